// @ts-check
// Which encodings of a sender are on (docs/protocol.md, "Layers nobody
// receives"; docs/client.md). No DOM, no timers.
//
// Two things decide it: whether the sender sends to the server at all (not
// while a direct call carries the media), and the layer cap the server
// asked for with `send_layers` (the lowest N simulcast layers). An
// encoding without a rid (a single stream: microphone, screen) knows no
// layers and follows only the first; a simulcast encoding is on when
// sending and its layer is below the cap. The lowest layer is never capped
// away (the cap is at least 1), so a sender that sends always sends it.
//
// Browsers refuse a `setParameters` that overlaps another `getParameters`/
// `setParameters` of the same sender (Chromium: InvalidStateError), so
// every change of a sender runs after the one before it, and each reads
// what is wanted when it runs: the newest wish wins, whatever the order
// the calls were made in.

/** Simulcast rids, lowest first (as SIMULCAST in protocol.js). */
export const LAYER_RIDS = ['l', 'm', 'h'];
/** Every layer on: a new publish connection and a client never told otherwise. */
export const ALL_LAYERS = LAYER_RIDS.length;

/**
 * The layer cap of a `send_layers` message: 1 to 3 (fractions rounded
 * down, out-of-range values clamped), or null for something that is no
 * number.
 * @param {unknown} layers
 * @returns {number | null}
 */
export function clampLayers(layers) {
  if (typeof layers !== 'number' || !Number.isFinite(layers)) return null;
  return Math.min(ALL_LAYERS, Math.max(1, Math.floor(layers)));
}

/**
 * Sets `active` on each encoding as wanted, in place.
 * @param {{rid?: string, active?: boolean}[]} encodings
 * @param {{sending: boolean, cap: number}} want
 * @returns {boolean} whether anything changed
 */
export function applyLayers(encodings, want) {
  let changed = false;
  for (const e of encodings) {
    const layer = e.rid === undefined ? -1 : LAYER_RIDS.indexOf(e.rid);
    const on = want.sending && (layer < 0 || layer < Math.max(1, want.cap));
    if (e.active !== on) {
      e.active = on;
      changed = true;
    }
  }
  return changed;
}

/**
 * The sender's pending changes, so that they run one after another.
 * @type {WeakMap<object, Promise<void>>}
 */
const chains = new WeakMap();

/**
 * @typedef {{getParameters(): {encodings?: {rid?: string, active?: boolean}[]},
 *   setParameters(p: any): Promise<void>}} ParamSender the part of an RTCRtpSender used here
 */

/**
 * Brings a sender's encodings to what `want()` says when the change runs
 * (null: leave them), after every change queued for the sender before.
 * Never rejects: a sender
 * not negotiated yet or closed sends nothing anyway, and the next
 * connection starts afresh.
 * @param {ParamSender} sender
 * @param {() => ({sending: boolean, cap: number} | null)} want
 * @returns {Promise<boolean>} whether parameters were set (and accepted)
 */
export function updateSender(sender, want) {
  const before = chains.get(sender) ?? Promise.resolve();
  /** @type {Promise<boolean>} */
  const run = before.then(async () => {
    try {
      const wanted = want();
      if (!wanted) return false;
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length || !applyLayers(params.encodings, wanted)) return false;
      await sender.setParameters(params);
      return true;
    } catch {
      return false;
    }
  });
  chains.set(sender, run.then(() => {}));
  return run;
}
