// @ts-check
// The page's side of frame encryption (docs/e2ee.md): one worker
// (e2ee-worker.js, a same-origin module, as the page's CSP allows) and an
// RTCRtpScriptTransform on every sender and receiver, the key exchange's
// keys handed to the worker, and what the worker reports. No DOM.

import { cryptoSupported } from './e2ee.js';

/**
 * What the worker reports (`stats`).
 * @typedef {{keyId: number, ok: number, failed: number, noKey: number, lastOk: number, lastFail: number,
 *   index: number, indexSince: number, known: boolean}} KeyReport `indexSince`: when `index` first decrypted
 * @typedef {{mid: string, kind: string, keyId: number | null, ok: number, failed: number, clear: number,
 *   lastOk: number, lastFail: number}} StreamReport
 * @typedef {{now: number, own: {keyId: number, index: number, since: number} | null, counter: number,
 *   sent: Record<string, {frames: number, dropped: number}>, keys: KeyReport[], streams: StreamReport[],
 *   work: {encryptMs: number, encrypted: number, decryptMs: number, decrypted: number}}} WorkerStats
 *   `work`: time spent in WebCrypto (wall time of the awaited calls, ms) and frames done
 */

/** Whether this browser can take part in an end-to-end encrypted meeting; known after `detectSupport`. */
let supported = /** @type {boolean | null} */ (null);

/**
 * Finds out once whether this browser has encoded transforms in workers
 * and X25519 in WebCrypto (both needed); the pre-join page asks early.
 * @returns {Promise<boolean>}
 */
export async function detectSupport() {
  if (supported === null) {
    supported = typeof globalThis.RTCRtpScriptTransform === 'function' && (await cryptoSupported());
  }
  return supported;
}

/** What `detectSupport` found (null: not asked yet; then only the transform is checked). */
export function isSupported() {
  return supported ?? typeof globalThis.RTCRtpScriptTransform === 'function';
}

export class FrameCrypto {
  constructor() {
    this.worker = new Worker('/static/e2ee-worker.js', { type: 'module', name: 'kabine-e2ee' });
    /** Senders and receivers that have their transform. @type {WeakSet<RTCRtpSender | RTCRtpReceiver>} */
    this.attached = new WeakSet();
    this.nextId = 1;
    /** Answers the worker owes, by request id. @type {Map<number, (value: any) => void>} */
    this.waiting = new Map();
    /** The last statistics the worker reported. @type {WorkerStats | null} */
    this.last = null;
    this.worker.addEventListener('message', (e) => {
      const resolve = this.waiting.get(e.data.id);
      if (!resolve) return;
      this.waiting.delete(e.data.id);
      resolve(e.data);
    });
  }

  /** @param {import('./e2ee-keys.js').KeyUpdate} update */
  update(update) {
    this.worker.postMessage(update);
  }

  /**
   * Encrypts what `sender` sends.
   * @param {RTCRtpSender} sender @param {'audio' | 'video'} kind @param {string} source
   */
  attachSender(sender, kind, source) {
    if (this.attached.has(sender)) return;
    this.attached.add(sender);
    sender.transform = new RTCRtpScriptTransform(this.worker, { role: 'send', kind, source });
  }

  /**
   * Decrypts what `receiver` receives; frames that do not decrypt are dropped.
   * @param {RTCRtpReceiver} receiver @param {string} mid
   */
  attachReceiver(receiver, mid) {
    if (this.attached.has(receiver)) return;
    this.attached.add(receiver);
    const kind = receiver.track.kind === 'audio' ? 'audio' : 'video';
    receiver.transform = new RTCRtpScriptTransform(this.worker, { role: 'recv', kind, mid });
  }

  /**
   * @param {object} msg
   * @returns {Promise<any>}
   */
  ask(msg) {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ ...msg, id });
    });
  }

  /** @returns {Promise<WorkerStats>} */
  async stats() {
    const answer = await this.ask({ type: 'stats' });
    this.last = answer.stats;
    return answer.stats;
  }

  /**
   * For tests and support: keeps the next `frames` encrypted video frames
   * this page receives, as they arrived.
   * @param {number} frames
   */
  capture(frames) {
    this.worker.postMessage({ type: 'capture', frames });
  }

  /** @returns {Promise<{kind: string, data: Uint8Array}[]>} */
  async captured() {
    return (await this.ask({ type: 'captured' })).frames;
  }

  /**
   * For tests: how many of `frames` decrypt with the keys this page holds.
   * @param {{kind: string, data: Uint8Array}[]} frames
   * @returns {Promise<number>}
   */
  async tryDecrypt(frames) {
    return (await this.ask({ type: 'try', frames })).ok;
  }

  /** Ends the worker: every key it held is gone. */
  close() {
    this.worker.terminate();
    for (const resolve of this.waiting.values()) resolve({ stats: null, frames: [], ok: 0 });
    this.waiting.clear();
  }
}
