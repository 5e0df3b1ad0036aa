// @ts-check
// The frame worker of an end-to-end encrypted meeting (docs/e2ee.md): every
// sender and receiver of this page gets an RTCRtpScriptTransform running
// here. Senders encrypt each encoded frame with this participant's sender
// key; receivers decrypt with the key the frame's trailer names, and drop
// every frame that does not decrypt (never passed on to the decoder).
//
// Messages from the page: `own` (our sender key), `peer` (someone's
// sender key), `forget`, `stats` (answered with `stats`), and for tests
// and support `capture` / `try` (answered with `captured` / `tried`).

import { KeyRing, encryptFrame, importFrameKey } from './e2ee.js';

/**
 * @typedef {{data: ArrayBuffer, type?: string}} EncodedFrame
 * @typedef {{readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame>,
 *   options: {role: 'send' | 'recv', kind: 'audio' | 'video', source?: string, mid?: string},
 *   sendKeyFrameRequest?: () => Promise<void>}} Transformer
 * @typedef {{ok: number, failed: number, noKey: number, lastOk: number, lastFail: number, index: number,
 *   indexSince: number, audio: number, video: number}} KeyStats `indexSince`: when a frame of this key
 *   index first decrypted; `audio`, `video`: frames of each kind that decrypted
 * @typedef {{mid: string, kind: string, keyId: number | null, ok: number, failed: number, clear: number,
 *   lastOk: number, lastFail: number, wantKeyFrame: boolean, lastRequest: number, transformer: Transformer,
 *   okByKey: Map<number, number>}} Stream `okByKey`: frames that decrypted per sender key id (an audio
 *   slot carries several people over time)
 */

const scope = /** @type {any} */ (globalThis);

/** Our sender key: what encrypts now, and since when. @type {{keyId: number, index: number, key: CryptoKey, since: number} | null} */
let own = null;
/** Frames encrypted so far: the counter in every IV (never repeats for one key). */
let counter = 0;
const ring = new KeyRing();
/** Decryption per sender key id. @type {Map<number, KeyStats>} */
const byKey = new Map();
/** Receivers, by mid. @type {Map<string, Stream>} */
const streams = new Map();
/** Frames sent per source, and dropped (no key yet, or the counter ran out). */
const sent = /** @type {Record<string, {frames: number, dropped: number}>} */ ({});
/** Time spent encrypting and decrypting, ms (performance.now()), and frames done: the CPU cost. */
const work = { encryptMs: 0, encrypted: 0, decryptMs: 0, decrypted: 0 };
/** Encrypted frames kept for a test: `capture`. @type {{left: number, frames: {kind: string, data: Uint8Array}[]} | null} */
let capture = null;

/** The shortest time between two key frame requests of one receiver. */
const KEYFRAME_REQUEST_MS = 1000;

scope.onmessage = async (/** @type {MessageEvent} */ e) => {
  const m = e.data;
  if (m.type === 'own') {
    own = { keyId: m.keyId, index: m.index, key: await importFrameKey(m.raw), since: Date.now() };
  } else if (m.type === 'peer') {
    await ring.set(m.keyId, m.index, m.raw);
    // A receiver that dropped this sender's frames needs a key frame now.
    for (const s of streams.values()) if (s.keyId === m.keyId && s.wantKeyFrame) requestKeyFrame(s);
  } else if (m.type === 'forget') {
    ring.forget(m.keyId);
    byKey.delete(m.keyId);
  } else if (m.type === 'stats') {
    scope.postMessage({ type: 'stats', id: m.id, stats: snapshot() });
  } else if (m.type === 'capture') {
    capture = { left: m.frames, frames: [] };
  } else if (m.type === 'captured') {
    scope.postMessage({ type: 'captured', id: m.id, frames: capture?.frames ?? [] });
  } else if (m.type === 'try') {
    let ok = 0;
    for (const f of m.frames) if ('plain' in (await ring.decrypt(f.kind, f.data))) ok++;
    scope.postMessage({ type: 'tried', id: m.id, ok, of: m.frames.length });
  }
};

scope.onrtctransform = (/** @type {{transformer: Transformer}} */ e) => {
  const t = e.transformer;
  const { role, kind } = t.options;
  if (role === 'send') {
    const source = t.options.source ?? kind;
    const count = (sent[source] ??= { frames: 0, dropped: 0 });
    pipe(t, async (frame, out) => {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) return out(frame);
      if (!own || counter >= 0xffffffff) {
        // Never sent in clear. (Our key is set before any transform exists.)
        count.dropped++;
        return;
      }
      const t0 = performance.now();
      frame.data = (await encryptFrame(own.key, kind, data, { keyId: own.keyId, index: own.index, counter: counter++ })).buffer;
      work.encryptMs += performance.now() - t0;
      work.encrypted++;
      count.frames++;
      out(frame);
    });
  } else {
    /** @type {Stream} */
    const s = { mid: t.options.mid ?? '', kind, keyId: null, ok: 0, failed: 0, clear: 0, lastOk: 0, lastFail: 0,
      wantKeyFrame: false, lastRequest: 0, transformer: t, okByKey: new Map() };
    streams.set(s.mid, s);
    pipe(t, async (frame, out) => {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) return out(frame);
      if (capture && capture.left > 0 && kind === 'video') {
        capture.left--;
        capture.frames.push({ kind, data: data.slice() });
      }
      const t0 = performance.now();
      const r = await ring.decrypt(kind, data);
      work.decryptMs += performance.now() - t0;
      work.decrypted++;
      const now = Date.now();
      if (r.keyId !== null) s.keyId = r.keyId;
      const k = r.keyId === null ? null : (byKey.get(r.keyId) ?? newKeyStats(r.keyId));
      if ('plain' in r) {
        frame.data = r.plain.buffer;
        s.ok++;
        s.lastOk = now;
        s.okByKey.set(r.keyId, (s.okByKey.get(r.keyId) ?? 0) + 1);
        if (k) {
          k.ok++;
          k[kind]++;
          k.lastOk = now;
          if (k.index !== r.index) k.indexSince = now;
          k.index = r.index;
        }
        // Delta frames after dropped ones cannot be decoded: ask for a key frame.
        if (kind === 'video' && s.wantKeyFrame) {
          if ((r.plain[0] & 1) === 0) s.wantKeyFrame = false;
          else requestKeyFrame(s);
        }
        out(frame);
        return;
      }
      // Dropped: never decoded as garbage.
      s.lastFail = now;
      if (r.error === 'clear') s.clear++;
      else s.failed++;
      if (k) {
        if (r.error === 'no_key') k.noKey++;
        else k.failed++;
        k.lastFail = now;
      }
      if (kind === 'video') s.wantKeyFrame = true;
    });
  }
};

/** @param {number} keyId */
function newKeyStats(keyId) {
  /** @type {KeyStats} */
  const k = { ok: 0, failed: 0, noKey: 0, lastOk: 0, lastFail: 0, index: -1, indexSince: 0, audio: 0, video: 0 };
  byKey.set(keyId, k);
  return k;
}

/** @param {Stream} s */
function requestKeyFrame(s) {
  const now = Date.now();
  if (now - s.lastRequest < KEYFRAME_REQUEST_MS || typeof s.transformer.sendKeyFrameRequest !== 'function') return;
  s.lastRequest = now;
  s.transformer.sendKeyFrameRequest().catch(() => {});
}

/**
 * Runs every frame of `t` through `fn`, in order.
 * @param {Transformer} t
 * @param {(frame: EncodedFrame, out: (f: EncodedFrame) => void) => Promise<void> | void} fn
 */
function pipe(t, fn) {
  t.readable
    .pipeThrough(new TransformStream({
      async transform(frame, controller) {
        try {
          await fn(frame, (f) => controller.enqueue(f));
        } catch {
          // A frame that cannot be handled is dropped, never passed on as it is.
        }
      },
    }))
    .pipeTo(t.writable)
    .catch(() => {});
}

function snapshot() {
  const now = Date.now();
  return {
    now,
    own: own ? { keyId: own.keyId, index: own.index, since: own.since } : null,
    counter,
    sent,
    work,
    keys: [...byKey.entries()].map(([keyId, k]) => ({ keyId, ...k, known: ring.has(keyId) })),
    streams: [...streams.values()].map((s) => ({ mid: s.mid, kind: s.kind, keyId: s.keyId, ok: s.ok, failed: s.failed,
      clear: s.clear, lastOk: s.lastOk, lastFail: s.lastFail, okByKey: Object.fromEntries(s.okByKey) })),
  };
}

