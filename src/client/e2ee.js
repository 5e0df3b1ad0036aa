// @ts-check
// The cryptography of end-to-end encrypted meetings (docs/e2ee.md), and
// nothing else: no DOM, no network, no state. WebCrypto only (browsers,
// their workers, and Node 20 for the tests in tests/browser/unit/).
//
// - The link key: 16 random bytes in the meeting link's fragment
//   (`#k=…`), which browsers never send to the server. It authenticates
//   every participant's public key (HMAC) and salts every pairwise key.
// - Pairwise channels: X25519 between two participants' identity keys,
//   HKDF-SHA-256, AES-GCM. They carry each participant's sender key.
// - Sender keys: 16 random bytes per participant (AES-128-GCM), numbered
//   by a key index; `ratchet` derives the next one one-way.
// - Frames: the first bytes stay in clear for the server (VP8: 10 of a
//   key frame, 3 of a delta frame; Opus: the TOC byte), the rest is
//   AES-GCM with a 10-byte trailer: counter, key index, sender key id,
//   format version.
// - The verification code: commitments, then nonces, over everyone's
//   identity keys, so a server that knows the link key cannot pick keys
//   that make two views show the same code.

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

/** Version of the frame format, the last byte of every encrypted frame. */
export const FRAME_VERSION = 1;
/** Trailer: counter (4), key index (1), sender key id (4), version (1). */
export const TRAILER_BYTES = 10;
/** AES-GCM tag length in bytes. */
export const TAG_BYTES = 16;
/** Bytes of the link key in the fragment. */
export const LINK_KEY_BYTES = 16;
/** Bytes of a sender key (AES-128). */
export const SENDER_KEY_BYTES = 16;

/** Kinds of messages in the opaque `data` of an `e2ee` relay (docs/e2ee.md). */
export const MSG = /** @type {const} */ ({ hello: 1, key: 2, commit: 3, reveal: 4, ack: 5 });

/**
 * @typedef {'audio' | 'video'} FrameKind
 * @typedef {Uint8Array<ArrayBuffer>} Bytes bytes in an ArrayBuffer of their own (what WebCrypto takes)
 */

// ---- encodings ----------------------------------------------------------

/** @param {Bytes} bytes */
export function toBase64Url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * @param {string} text
 * @returns {Bytes | null} null when `text` is not base64url
 */
export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** @param {...Bytes} parts */
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** @param {number} n */
function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

/** @param {number} v */
function u32(v) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

/** @param {Bytes} a @param {Bytes} b */
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** @param {Bytes} data */
async function sha256(data) {
  return new Uint8Array(await subtle.digest('SHA-256', data));
}

/**
 * HKDF-SHA-256 to `bytes` bytes.
 * @param {Bytes} ikm @param {Bytes} salt @param {Bytes} info @param {number} bytes
 */
async function hkdf(ikm, salt, info, bytes) {
  const base = await subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, base, bytes * 8));
}

// ---- the link key -------------------------------------------------------

/** A fresh link key. */
export function newLinkKey() {
  return randomBytes(LINK_KEY_BYTES);
}

/**
 * The link key in a location's fragment (`#k=…`, among other `&`-separated
 * parts), or null.
 * @param {string} hash `location.hash`
 */
export function linkKeyFromHash(hash) {
  for (const part of hash.replace(/^#/, '').split('&')) {
    if (!part.startsWith('k=')) continue;
    const key = fromBase64Url(part.slice(2));
    return key && key.length === LINK_KEY_BYTES ? key : null;
  }
  return null;
}

/** @param {Bytes} key */
export function linkKeyToHash(key) {
  return `#k=${toBase64Url(key)}`;
}

/**
 * What the link key is used for in `room` (the meeting's name, lower case):
 * an HMAC key for public keys and the salt of every pairwise key.
 * @param {Bytes} linkKey
 * @param {string} room
 * @returns {Promise<{mac: CryptoKey, salt: Bytes}>}
 */
export async function linkSecrets(linkKey, room) {
  const info = enc.encode(`kabine-e2ee-v1 link\0${room.toLowerCase()}`);
  const okm = await hkdf(linkKey, enc.encode('kabine-e2ee-v1'), info, 64);
  const mac = await subtle.importKey('raw', okm.slice(0, 32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  return { mac, salt: okm.slice(32) };
}

// ---- identity keys and hellos -------------------------------------------

/**
 * A participant's identity for one participation: an X25519 key pair.
 * @returns {Promise<{keys: CryptoKeyPair, pub: Bytes}>}
 */
export async function newIdentity() {
  const keys = /** @type {CryptoKeyPair} */ (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']));
  const pub = new Uint8Array(await subtle.exportKey('raw', keys.publicKey));
  return { keys, pub };
}

/** A random 32-bit sender key id, named in every frame its owner encrypts. */
export function newKeyId() {
  return new DataView(randomBytes(4).buffer).getUint32(0);
}

/** Whether this environment has what E2EE needs from WebCrypto (X25519). */
export async function cryptoSupported() {
  try {
    await newIdentity();
    return true;
  } catch {
    return false;
  }
}

/** @param {string} id @param {number} keyId @param {Bytes} pub */
function helloBody(id, keyId, pub) {
  return concat(enc.encode(`kabine-e2ee-v1 hello\0${id}\0`), u32(keyId), pub);
}

/**
 * The `hello` a participant sends: its sender key id and public key,
 * authenticated with the link key and bound to its participant id.
 * @param {CryptoKey} mac @param {string} id @param {number} keyId @param {Bytes} pub
 */
export async function sealHello(mac, id, keyId, pub) {
  const tag = new Uint8Array(await subtle.sign('HMAC', mac, helloBody(id, keyId, pub))).slice(0, 16);
  return concat(new Uint8Array([MSG.hello, 1]), u32(keyId), pub, tag);
}

/**
 * Opens a `hello` from participant `id`: null when it is malformed, and
 * `verified: false` when its MAC does not match (another link key).
 * @param {CryptoKey} mac @param {string} id @param {Bytes} msg
 * @returns {Promise<{keyId: number, pub: Bytes, verified: boolean} | null>}
 */
export async function openHello(mac, id, msg) {
  if (msg.length !== 2 + 4 + 32 + 16 || msg[0] !== MSG.hello || msg[1] !== 1) return null;
  const keyId = new DataView(msg.buffer, msg.byteOffset + 2, 4).getUint32(0);
  const pub = msg.slice(6, 38);
  const expected = new Uint8Array(await subtle.sign('HMAC', mac, helloBody(id, keyId, pub))).slice(0, 16);
  return { keyId, pub, verified: sameBytes(expected, msg.slice(38)) };
}

// ---- pairwise channels and sender keys ----------------------------------

/**
 * The AES-GCM key of the pairwise channel between this participant
 * (`ownId`, `own`) and another (`otherId`, `otherPub`): X25519, then HKDF
 * salted by the link key over both ids and public keys.
 * @param {{keys: CryptoKeyPair, pub: Bytes}} own
 * @param {string} ownId @param {string} otherId @param {Bytes} otherPub @param {Bytes} salt
 */
export async function pairKey(own, ownId, otherId, otherPub, salt) {
  const theirs = await subtle.importKey('raw', otherPub, { name: 'X25519' }, false, []);
  const shared = new Uint8Array(
    await subtle.deriveBits({ name: 'X25519', public: theirs }, own.keys.privateKey, 256));
  const [a, b] = ownId < otherId ? [[ownId, own.pub], [otherId, otherPub]] : [[otherId, otherPub], [ownId, own.pub]];
  const info = concat(enc.encode(`kabine-e2ee-v1 pair\0${a[0]}\0${b[0]}\0`), /** @type {Bytes} */ (a[1]),
    /** @type {Bytes} */ (b[1]));
  const raw = await hkdf(shared, salt, info, 16);
  shared.fill(0);
  return subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

/** @param {string} from @param {string} to */
function keyAad(from, to) {
  return enc.encode(`kabine-e2ee-v1 key\0${from}\0${to}`);
}

/**
 * A `key` message: sender key `raw` with its index, from `from` to `to`
 * over their pairwise channel.
 * @param {CryptoKey} pair @param {string} from @param {string} to @param {number} index @param {Bytes} raw
 */
export async function sealSenderKey(pair, from, to, index, raw) {
  const iv = randomBytes(12);
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: keyAad(from, to) }, pair,
    concat(new Uint8Array([index & 0xff]), raw)));
  return concat(new Uint8Array([MSG.key]), iv, ct);
}

/**
 * Opens a `key` message; null when it does not decrypt.
 * @param {CryptoKey} pair @param {string} from @param {string} to @param {Bytes} msg
 * @returns {Promise<{index: number, raw: Bytes} | null>}
 */
export async function openSenderKey(pair, from, to, msg) {
  if (msg.length !== 1 + 12 + 1 + SENDER_KEY_BYTES + TAG_BYTES || msg[0] !== MSG.key) return null;
  try {
    const plain = new Uint8Array(await subtle.decrypt(
      { name: 'AES-GCM', iv: msg.slice(1, 13), additionalData: keyAad(from, to) }, pair, msg.slice(13)));
    return { index: plain[0], raw: plain.slice(1) };
  } catch {
    return null;
  }
}

/** A fresh sender key. */
export function newSenderKey() {
  return randomBytes(SENDER_KEY_BYTES);
}

/**
 * The next sender key after `raw`, one-way: who holds it cannot compute
 * earlier ones (a newcomer cannot read what was sent before).
 * @param {Bytes} raw
 */
export function ratchet(raw) {
  return hkdf(raw, enc.encode('kabine-e2ee-v1 ratchet'), new Uint8Array(0), SENDER_KEY_BYTES);
}

/** @param {Bytes} raw */
export function importFrameKey(raw) {
  return subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

// ---- frames -------------------------------------------------------------

/**
 * How many leading bytes of a frame stay in clear: the SFU and the
 * receiving browser's depacketizer read them (VP8 payload header: 10 bytes
 * of a key frame with its size, 3 of a delta frame; Opus: the TOC byte).
 * @param {FrameKind} kind @param {Bytes} data
 */
export function clearBytes(kind, data) {
  if (kind === 'audio') return Math.min(1, data.length);
  if (data.length === 0) return 0;
  // VP8 frame tag, bit 0 of the first byte: 0 = key frame.
  return Math.min(data.length, (data[0] & 1) === 0 ? 10 : 3);
}

/** @param {number} keyId @param {number} index @param {number} counter */
function frameIv(keyId, index, counter) {
  const iv = new Uint8Array(12);
  const v = new DataView(iv.buffer);
  v.setUint32(0, keyId);
  v.setUint32(4, counter);
  iv[8] = index;
  return iv;
}

/** @param {number} keyId @param {number} index @param {number} counter */
function trailer(keyId, index, counter) {
  const t = new Uint8Array(TRAILER_BYTES);
  const v = new DataView(t.buffer);
  v.setUint32(0, counter);
  t[4] = index;
  v.setUint32(5, keyId);
  t[9] = FRAME_VERSION;
  return t;
}

/**
 * Encrypts one encoded frame. `counter` must never repeat for one sender
 * key (the worker counts every frame it encrypts).
 * @param {CryptoKey} key @param {FrameKind} kind @param {Bytes} data
 * @param {{keyId: number, index: number, counter: number}} meta
 */
export async function encryptFrame(key, kind, data, meta) {
  const n = clearBytes(kind, data);
  const clear = data.subarray(0, n);
  const tail = trailer(meta.keyId, meta.index, meta.counter);
  const ct = new Uint8Array(await subtle.encrypt(
    { name: 'AES-GCM', iv: frameIv(meta.keyId, meta.index, meta.counter), additionalData: concat(clear, tail) },
    key, data.subarray(n)));
  return concat(clear, ct, tail);
}

/**
 * What an encrypted frame's trailer says, or null when it is no
 * encrypted frame of this format.
 * @param {Bytes} data
 * @returns {{keyId: number, index: number, counter: number} | null}
 */
export function frameTrailer(data) {
  if (data.length < TRAILER_BYTES + TAG_BYTES || data[data.length - 1] !== FRAME_VERSION) return null;
  const v = new DataView(data.buffer, data.byteOffset + data.length - TRAILER_BYTES, TRAILER_BYTES);
  return { counter: v.getUint32(0), index: v.getUint8(4), keyId: v.getUint32(5) };
}

/**
 * Decrypts one frame with `key` (the sender key its trailer names); null
 * when it does not decrypt: such a frame is dropped, never decoded.
 * @param {CryptoKey} key @param {FrameKind} kind @param {Bytes} data
 * @returns {Promise<Bytes | null>}
 */
export async function decryptFrame(key, kind, data) {
  const meta = frameTrailer(data);
  if (!meta) return null;
  const n = clearBytes(kind, data);
  const end = data.length - TRAILER_BYTES;
  if (end - n < TAG_BYTES) return null;
  const clear = data.subarray(0, n);
  try {
    const plain = new Uint8Array(await subtle.decrypt(
      { name: 'AES-GCM', iv: frameIv(meta.keyId, meta.index, meta.counter),
        additionalData: concat(clear, data.subarray(end)) },
      key, data.subarray(n, end)));
    return concat(clear, plain);
  } catch {
    return null;
  }
}

// ---- the verification code ----------------------------------------------

/**
 * The round of a view of the meeting: everyone's participant id now and in
 * the view before. Each round has its own commitments, nonces and code.
 * @param {string[]} ids
 * @param {string[]} previous
 */
export async function viewRound(ids, previous) {
  const list = (/** @type {string[]} */ x) => [...x].sort().join('\0');
  return (await sha256(enc.encode(`kabine-e2ee-v1 view\0${list(ids)}\0\0${list(previous)}`))).slice(0, 8);
}

/** @param {Bytes} round @param {string} id @param {Bytes} pub @param {Bytes} nonce */
function commitment(round, id, pub, nonce) {
  return sha256(concat(enc.encode('kabine-e2ee-v1 commit\0'), round, enc.encode(`${id}\0`), pub, nonce));
}

/** A fresh nonce for a round. */
export function newNonce() {
  return randomBytes(16);
}

/**
 * `commit` message: binds this participant's public key and a nonce it
 * reveals only after it has everyone else's commitment for the round.
 * @param {Bytes} round @param {string} id @param {Bytes} pub @param {Bytes} nonce
 */
export async function sealCommit(round, id, pub, nonce) {
  return concat(new Uint8Array([MSG.commit]), round, await commitment(round, id, pub, nonce));
}

/** @param {Bytes} round @param {Bytes} nonce */
export function sealReveal(round, nonce) {
  return concat(new Uint8Array([MSG.reveal]), round, nonce);
}

/**
 * Parses a `commit` or `reveal` message.
 * @param {Bytes} msg
 * @returns {{kind: 'commit', round: Bytes, commitment: Bytes}
 *   | {kind: 'reveal', round: Bytes, nonce: Bytes} | null}
 */
export function parseRoundMessage(msg) {
  if (msg[0] === MSG.commit && msg.length === 1 + 8 + 32) {
    return { kind: 'commit', round: msg.slice(1, 9), commitment: msg.slice(9) };
  }
  if (msg[0] === MSG.reveal && msg.length === 1 + 8 + 16) return { kind: 'reveal', round: msg.slice(1, 9), nonce: msg.slice(9) };
  return null;
}

/**
 * Whether `nonce` opens participant `id`'s `commit` for `round` with `pub`.
 * @param {Bytes} round @param {string} id @param {Bytes} pub @param {Bytes} nonce @param {Bytes} c
 */
export async function opensCommitment(round, id, pub, nonce, c) {
  return sameBytes(await commitment(round, id, pub, nonce), c);
}

/**
 * The verification code of a round: six digits over every participant's
 * id, public key and nonce. Everyone who sees the same people with the
 * same keys shows the same code.
 * @param {Bytes} round
 * @param {{id: string, pub: Bytes, nonce: Bytes}[]} members everyone, this participant included
 */
export async function verificationCode(round, members) {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const parts = [enc.encode('kabine-e2ee-v1 code\0'), round];
  for (const m of sorted) parts.push(enc.encode(`${m.id}\0`), m.pub, m.nonce);
  const h = await sha256(concat(...parts));
  const n = new DataView(h.buffer).getUint32(0) % 1_000_000;
  const digits = String(n).padStart(6, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

export { sameBytes };

// ---- the receiving key ring -----------------------------------------------

/**
 * The sender keys this participant has of everyone else, by sender key id
 * and key index; decrypts frames by their trailer. A frame with the next
 * index of a sender (they ratcheted because someone joined) is tried with
 * the ratchet of their newest key. At most MAX_KEYS keys per sender.
 */
export class KeyRing {
  /** Keys kept per sender. */
  static MAX_KEYS = 4;
  /** How many ratchet steps ahead of a sender's newest key are tried. */
  static MAX_RATCHET = 8;

  constructor() {
    /** @type {Map<number, {keys: Map<number, {key: CryptoKey, raw: Bytes, sure: boolean}>, newest: number}>} */
    this.senders = new Map();
  }

  /**
   * A sender key from its owner.
   * @param {number} keyId @param {number} index @param {Bytes} raw
   */
  async set(keyId, index, raw) {
    const key = await importFrameKey(raw);
    const s = this.senders.get(keyId) ?? { keys: new Map(), newest: index };
    s.keys.set(index, { key, raw, sure: true });
    // A key that comes late (or is replayed) does not move the newest back.
    if (((index - s.newest) & 0xff) < 128) s.newest = index;
    this.senders.set(keyId, s);
    this.trim(s);
  }

  /** @param {number} keyId */
  forget(keyId) {
    const s = this.senders.get(keyId);
    for (const k of s?.keys.values() ?? []) k.raw.fill(0);
    this.senders.delete(keyId);
  }

  /** @param {number} keyId */
  has(keyId) {
    return this.senders.has(keyId);
  }

  /** @param {{keys: Map<number, unknown>, newest: number}} s */
  trim(s) {
    // Keys older than the newest by more than MAX_KEYS indices go.
    for (const index of [...s.keys.keys()]) {
      if (((s.newest - index) & 0xff) >= KeyRing.MAX_KEYS) s.keys.delete(index);
    }
  }

  /**
   * Decrypts a frame. `error`: `clear` (no encrypted frame: dropped),
   * `no_key` (nothing of this sender yet), `failed` (does not decrypt).
   * @param {FrameKind} kind @param {Bytes} data
   * @returns {Promise<{plain: Bytes, keyId: number, index: number}
   *   | {error: 'clear' | 'no_key' | 'failed', keyId: number | null, index: number | null}>}
   */
  async decrypt(kind, data) {
    const meta = frameTrailer(data);
    if (!meta) return { error: 'clear', keyId: null, index: null };
    const s = this.senders.get(meta.keyId);
    if (!s) return { error: 'no_key', keyId: meta.keyId, index: meta.index };
    let entry = s.keys.get(meta.index);
    if (!entry) {
      // The sender may have ratcheted (someone joined): derive from its newest key.
      const steps = (meta.index - s.newest) & 0xff;
      const base = s.keys.get(s.newest);
      if (!base || steps === 0 || steps > KeyRing.MAX_RATCHET) return { error: 'failed', keyId: meta.keyId, index: meta.index };
      let raw = base.raw;
      for (let i = 0; i < steps; i++) raw = await ratchet(raw);
      entry = { key: await importFrameKey(raw), raw, sure: false };
      s.keys.set(meta.index, entry);
    }
    const plain = await decryptFrame(entry.key, kind, data);
    if (!plain) return { error: 'failed', keyId: meta.keyId, index: meta.index };
    if (!entry.sure) {
      entry.sure = true;
      s.newest = meta.index;
      this.trim(s);
    }
    return { plain, keyId: meta.keyId, index: meta.index };
  }
}
