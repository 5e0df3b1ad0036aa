// @ts-check
// Whether what this browser publishes reaches the server, and what to do
// when it does not (docs/client.md, "When media does not arrive"). Sans-IO:
// the session feeds it what it sees once a second, with the time, and
// carries out the actions it returns. No DOM, no timers.
//
// - A publish connection must connect within CONNECT_MS of the first one
//   set up since media last flowed (a connection that fails at once is
//   replaced by the session's reconnect, and the clock keeps running);
//   otherwise the network most likely blocks media, and the person is told
//   so (the session keeps trying).
// - Every source that should send (microphone on, camera on) must send:
//   its sender's packet count grows. The server also reports a source it
//   is told is on but of which nothing arrives (`media_stalled`). Frames an
//   encoded transform holds back (end-to-end encryption without a key yet)
//   count as sent: attaching the track again or reconnecting would not
//   change that, so it is no stall of the publisher.
// - A stalled source is repaired step by step: its track is attached again
//   (`reattach`); if it stalls again within RETRY_WINDOW_MS, the session
//   reconnects with new peer connections (`reconnect`); if even that does
//   not help, the person is told that the others cannot see or hear them
//   (`problem`) — and the watch goes on: once everything flows again, the
//   message goes away (`fixed`).

/** How long the publish connection may take to connect. */
export const CONNECT_MS = 10000;
/** How long a source that should send may send nothing. */
export const STALL_MS = 4000;
/** A second stall within this time after a repair escalates. */
export const RETRY_WINDOW_MS = 30000;
/**
 * A stall the server reports this soon after a repair step was measured
 * mostly before it (the server waits 5 s without packets): it does not
 * escalate; a source not yet repaired is reattached.
 */
export const REPORT_GRACE_MS = 3000;

/**
 * @typedef {'mic' | 'camera'} Watched
 * @typedef {'blocked' | 'mic' | 'camera'} Problem what the person is told:
 *   media cannot reach the server at all, or one source does not
 * @typedef {{kind: 'reattach', source: Watched} | {kind: 'reconnect'} | {kind: 'problem', problem: Problem}
 *   | {kind: 'fixed'}} Action
 * @typedef {object} Observation
 * @property {string} publish the publish connection's connectionState ('' = none)
 * @property {boolean} paused sending to the server is paused (a direct call)
 * @property {Record<Watched, boolean>} expected whether each source should send
 * @property {Record<Watched, number>} sent each sender's packets sent so far
 * @property {Record<Watched, number>} [held] frames of each source an encoded transform dropped so far
 */

export class MediaHealth {
  constructor() {
    /** Since when no publish connection has connected (null: the current one did). @type {number | null} */
    this.unconnectedSince = null;
    /** A publish connection is being watched. */
    this.watching = false;
    this.connectedOnce = false;
    /** Per source: packets at the last growth and when it grew. @type {Record<Watched, {packets: number, at: number}>} */
    this.progress = { mic: { packets: 0, at: 0 }, camera: { packets: 0, at: 0 } };
    /** The last repair step taken and when: 0 none, 1 reattached, 2 reconnected. */
    this.step = 0;
    this.stepAt = 0;
    /** Sources reattached by the last step. @type {Set<Watched>} */
    this.repaired = new Set();
    /** What the person is being told now. @type {Problem | null} */
    this.told = null;
  }

  /**
   * A new publish connection was set up (a join or a reconnect).
   * @param {number} now
   */
  connecting(now) {
    this.watching = true;
    this.unconnectedSince ??= now;
    this.connectedOnce = false;
    this.progress = { mic: { packets: 0, at: now }, camera: { packets: 0, at: now } };
  }

  /**
   * The server says nothing arrives of `source` although it is on.
   * @param {number} now
   * @param {Watched} source
   * @returns {Action[]}
   */
  reported(now, source) {
    if (this.step > 0 && now - this.stepAt < REPORT_GRACE_MS) {
      if (this.repaired.has(source)) return [];
      this.repaired.add(source);
      return [{ kind: 'reattach', source }];
    }
    return this.stalled(now, source);
  }

  /**
   * One look at the publish connection.
   * @param {number} now
   * @param {Observation} o
   * @returns {Action[]}
   */
  observe(now, o) {
    if (!this.watching) return [];
    if (o.publish !== 'connected') {
      // Not (yet, or no longer) connected: the connection's own failure
      // handling reconnects; say early that the network may be the cause.
      const since = this.unconnectedSince;
      if (since !== null && now - since >= CONNECT_MS && this.told !== 'blocked') {
        this.told = 'blocked';
        return [{ kind: 'problem', problem: 'blocked' }];
      }
      return [];
    }
    /** @type {Action[]} */
    const actions = [];
    const count = (/** @type {Watched} */ s) => o.sent[s] + (o.held?.[s] ?? 0);
    if (!this.connectedOnce) {
      this.connectedOnce = true;
      this.unconnectedSince = null;
      for (const s of /** @type {Watched[]} */ (['mic', 'camera'])) this.progress[s] = { packets: count(s), at: now };
      if (this.told === 'blocked') {
        this.told = null;
        actions.push({ kind: 'fixed' });
      }
    }
    let flowing = true;
    for (const s of /** @type {Watched[]} */ (['mic', 'camera'])) {
      const p = this.progress[s];
      if (count(s) > p.packets || !o.expected[s] || o.paused) {
        this.progress[s] = { packets: count(s), at: now };
        continue;
      }
      flowing = false;
      if (now - p.at >= STALL_MS) {
        actions.push(...this.stalled(now, s));
        this.progress[s] = { packets: count(s), at: now };
      }
    }
    if (flowing && this.step > 0 && now - this.stepAt >= RETRY_WINDOW_MS) this.step = 0;
    if (flowing && this.told && this.told !== 'blocked') {
      this.told = null;
      actions.push({ kind: 'fixed' });
    }
    return actions;
  }

  /**
   * The next repair step for a stalled source.
   * @param {number} now
   * @param {Watched} source
   * @returns {Action[]}
   */
  stalled(now, source) {
    const recent = this.step > 0 && now - this.stepAt < RETRY_WINDOW_MS;
    const step = recent ? this.step + 1 : 1;
    this.stepAt = now;
    this.repaired = new Set(step === 2 ? ['mic', 'camera'] : [source]);
    if (step === 1) {
      this.step = 1;
      return [{ kind: 'reattach', source }];
    }
    if (step === 2) {
      this.step = 2;
      return [{ kind: 'reconnect' }];
    }
    this.step = 3;
    if (this.told === source) return [{ kind: 'reattach', source }];
    this.told = source;
    return [{ kind: 'problem', problem: source }, { kind: 'reattach', source }];
  }
}
