// @ts-check
// Who holds which key in an end-to-end encrypted meeting (docs/e2ee.md):
// the key exchange of one participant, without DOM, worker or network.
// The session feeds it the room's membership and the `e2ee` messages the
// server relays; it answers with messages to send (`send`), keys for the
// frame worker (`keys`), and a new status (`changed`).
//
// - On joining (and after a move to a breakout room or a reconnect, each a
//   new participation): a new identity key pair, sender key id and sender
//   key; a `hello` to everyone.
// - A `hello` whose MAC matches our link key is answered with our own
//   `hello` (once) and our sender key over the pairwise channel. One that
//   does not match marks the participant `untrusted`: no key goes to them,
//   none is taken from them.
// - Someone joins: our sender key is ratcheted (the newcomer cannot read
//   what we sent before; the others ratchet it themselves). Someone leaves:
//   a new random sender key goes to everyone left, and is used as soon as
//   all of them confirmed it (`ack`), or ROTATE_DELAY_MS later; the leaver
//   never gets it.
// - A key goes to a participant only if we first encrypted with it after
//   they joined: a key that waits for its use (a leave's) is not used yet;
//   the key in use is, unless it became ours after their join (by their
//   join's ratchet or a later change). Someone who joins while a leave's
//   key waits gets no ratchet of the key in use (the leaver could compute
//   it), so they get only the waiting key and read us once it is in use.
// - The verification code: per view of the meeting (everyone's ids), a
//   commitment to a nonce, the nonce once everyone's commitment is in, and
//   then the code over all ids, public keys and nonces.

import {
  MSG, fromBase64Url, importFrameKey, linkSecrets, newIdentity, newKeyId, newNonce, newSenderKey, opensCommitment, openHello, openSenderKey,
  pairKey, parseRoundMessage, ratchet, sameBytes, sealCommit, sealHello, sealReveal, sealSenderKey, toBase64Url,
  verificationCode, viewRound,
} from './e2ee.js';

/** A new sender key is used at the latest this long after it was sent to everyone. */
export const ROTATE_DELAY_MS = 700;
/** Rounds of the verification code kept for messages that come early. */
const EARLY_ROUNDS = 4;

/**
 * @typedef {import('./e2ee.js').Bytes} Bytes
 * @typedef {'waiting' | 'untrusted' | 'keyed'} PeerState
 *   `waiting`: no verified hello or no sender key yet; `untrusted`: their
 *   hello does not match our link key; `keyed`: we have their sender key.
 * @typedef {{type: 'own', keyId: number, index: number, raw: Bytes}
 *   | {type: 'peer', keyId: number, index: number, raw: Bytes}
 *   | {type: 'forget', keyId: number}} KeyUpdate what the frame worker must know
 * @typedef {object} Peer
 * @property {number | null} keyId
 * @property {Bytes | null} pub
 * @property {boolean} verified
 * @property {boolean} untrusted
 * @property {CryptoKey | null} pair
 * @property {boolean} helloSent we sent them our hello
 * @property {boolean} keyed we have their sender key
 * @property {number} since our `joins` count when they joined (0: there before us)
 * @typedef {{round: Bytes, nonce: Bytes, commits: Map<string, Bytes>,
 *   reveals: Map<string, Bytes>, revealed: boolean, code: string | null, mismatch: boolean}} Round
 */

export class KeyExchange {
  /**
   * @param {{room: string, linkKey: Bytes, send: (to: string | null, data: string) => void,
   *   keys: (update: KeyUpdate) => void, changed?: () => void,
   *   schedule?: (fn: () => void, ms: number) => unknown, cancel?: (handle: any) => void}} options
   *   `send`: an `e2ee` message (`to` null: everyone else in the room); `data` is base64url.
   */
  constructor(options) {
    this.room = options.room;
    this.linkKey = options.linkKey;
    this.sendRaw = options.send;
    this.keys = options.keys;
    this.changed = options.changed ?? (() => {});
    this.schedule = options.schedule ?? ((fn, ms) => setTimeout(fn, ms));
    this.cancel = options.cancel ?? ((h) => clearTimeout(h));
    /** @type {Promise<void>} */
    this.chain = Promise.resolve();
    /** @type {{mac: CryptoKey, salt: Bytes} | null} */
    this.secrets = null;
    /** @type {string | null} */
    this.self = null;
    /** Our X25519 key pair for this participation. @type {{keys: CryptoKeyPair, pub: Bytes} | null} */
    this.identity = null;
    /** Our sender key id for this participation, named in every frame we encrypt. */
    this.keyId = 0;
    /**
     * The sender key in use; `since`: the joins we had seen when we first
     * encrypted with it (see `joins`).
     * @type {{index: number, raw: Bytes, since: number} | null}
     */
    this.current = null;
    /**
     * Joins seen in this participation. A participant who joined as the
     * n-th gets a key only if its `since` is n or more: never one we
     * encrypted with before they came.
     */
    this.joins = 0;
    /**
     * A new sender key sent to everyone but not used yet, and who confirmed it.
     * @type {{index: number, raw: Bytes, acked: Set<string>, switch: () => void} | null}
     */
    this.pending = null;
    /** @type {unknown} */
    this.pendingTimer = null;
    /** Everyone else in our room. @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {Round | null} */
    this.roundState = null;
    /** Round messages for rounds we have not started yet. @type {Map<string, {from: string, msg: Bytes}[]>} */
    this.early = new Map();
    /** Generation of the participation; work of an older one is dropped. */
    this.generation = 0;
    this.stopped = false;
    /** Sender key rotations since the start (for tests and support). */
    this.rotations = 0;
  }

  /**
   * Runs `fn` after everything queued before it (inputs are handled one
   * at a time, in order).
   * @param {() => Promise<void>} fn
   */
  queue(fn) {
    this.chain = this.chain.then(fn).catch((err) => {
      console.warn('kabine: e2ee key exchange failed', err);
    });
    return this.chain;
  }

  /** Until every input so far is handled. */
  settled() {
    return this.chain;
  }

  /**
   * A new participation as `self` with `others` in the room: new keys, and
   * a hello to everyone.
   * @param {string} self @param {string[]} others
   */
  start(self, others) {
    // At once, before anything is sent: our sender key for the worker (a
    // transform may get its first frame a moment later). The key pair
    // follows in the queue.
    this.generation++;
    this.cancelPending();
    this.self = self;
    this.keyId = newKeyId();
    this.joins = 0;
    this.current = { index: 0, raw: newSenderKey(), since: 0 };
    this.keys({ type: 'own', keyId: this.keyId, index: 0, raw: this.current.raw });
    const forget = [...this.peers.values()].map((p) => p.keyId).filter((k) => k !== null);
    this.peers = new Map(others.map((id) => [id, newPeer(true, 0)]));
    this.identity = null;
    this.roundState = null;
    this.early.clear();
    const generation = this.generation;
    return this.queue(async () => {
      for (const keyId of forget) this.keys({ type: 'forget', keyId: /** @type {number} */ (keyId) });
      this.secrets ??= await linkSecrets(this.linkKey, this.room);
      const identity = await newIdentity();
      if (generation !== this.generation) return;
      this.identity = identity;
      this.send(null, await sealHello(this.secrets.mac, self, this.keyId, identity.pub));
      await this.newRound(others);
      this.changed();
    });
  }

  /** @param {string} id someone joined our room */
  joined(id) {
    return this.queue(async () => {
      if (!this.self || id === this.self || this.peers.has(id)) return;
      this.joins++;
      this.peers.set(id, newPeer(false, this.joins));
      // What we sent before stays unreadable for the newcomer: the key
      // moves on one way. While a leave's new key waits, the key in use is
      // one the leaver has, and so would be its ratchet: the newcomer then
      // gets only the waiting key, which nobody used yet (onHello).
      if (!this.pending && this.current) {
        const raw = await ratchet(this.current.raw);
        this.current = { index: (this.current.index + 1) & 0xff, raw, since: this.joins };
        this.keys({ type: 'own', keyId: this.keyId, index: this.current.index, raw });
      }
      await this.newRound(this.view().filter((x) => x !== id));
      this.changed();
    });
  }

  /** @param {string} id someone left our room */
  left(id) {
    return this.queue(async () => {
      const peer = this.peers.get(id);
      if (!peer) return;
      this.peers.delete(id);
      if (peer.keyId !== null && ![...this.peers.values()].some((p) => p.keyId === peer.keyId)) {
        this.keys({ type: 'forget', keyId: peer.keyId });
      }
      await this.rotate();
      await this.newRound([...this.view(), id]);
      this.changed();
    });
  }

  /**
   * Our room's members are now `others` (a breakout move): a new
   * participation there.
   * @param {string[]} others
   */
  moved(others) {
    if (!this.self) return this.chain;
    return this.start(this.self, others);
  }

  /**
   * An `e2ee` message relayed from `from`.
   * @param {string} from @param {string} data base64url
   */
  receive(from, data) {
    return this.queue(async () => {
      const msg = fromB64(data);
      if (!msg || !this.self || !this.secrets || !this.identity) return;
      const generation = this.generation;
      if (msg[0] === MSG.hello) await this.onHello(from, msg, generation);
      else if (msg[0] === MSG.key) await this.onKey(from, msg);
      else if (msg[0] === MSG.ack) this.onAck(from, msg);
      else if (msg[0] === MSG.commit || msg[0] === MSG.reveal) await this.onRoundMessage(from, msg, true);
    });
  }

  /** Forgets everything (the person left the meeting). */
  stop() {
    this.stopped = true;
    this.generation++;
    this.cancelPending();
    this.peers.clear();
    this.identity = null;
    if (this.current) this.current.raw.fill(0);
    this.current = null;
    this.roundState = null;
  }

  // ---- status -----------------------------------------------------------

  /** @param {string} id */
  peerState(id) {
    const p = this.peers.get(id);
    if (!p) return /** @type {PeerState} */ ('waiting');
    if (p.untrusted) return 'untrusted';
    return p.keyed ? 'keyed' : 'waiting';
  }

  /** The sender key id `id` announced (null: none yet). @param {string} id */
  keyIdOf(id) {
    return this.peers.get(id)?.keyId ?? null;
  }

  /** The participant whose sender key id is `keyId`. @param {number} keyId */
  participantOfKey(keyId) {
    for (const [id, p] of this.peers) if (p.keyId === keyId && p.verified) return id;
    return null;
  }

  /** The verification code of the current view, once everyone took part. */
  get code() {
    return this.roundState?.code ?? null;
  }

  /** Our own sender key id (null before `start`). */
  get ownKeyId() {
    return this.self ? this.keyId : null;
  }

  /** The index of the sender key we encrypt with now. */
  get ownIndex() {
    return this.current?.index ?? null;
  }

  // ---- internals ----------------------------------------------------------

  /** @param {string | null} to @param {Bytes} bytes */
  send(to, bytes) {
    if (!this.stopped) this.sendRaw(to, toBase64Url(bytes));
  }

  cancelPending() {
    if (this.pendingTimer !== null) this.cancel(this.pendingTimer);
    this.pendingTimer = null;
    this.pending = null;
  }

  /**
   * A new random sender key for everyone still here; used once they all
   * confirmed it, at the latest ROTATE_DELAY_MS later.
   */
  async rotate() {
    if (!this.current || !this.self) return;
    this.cancelPending();
    const generation = this.generation;
    const raw = newSenderKey();
    const index = (this.current.index + 1) & 0xff;
    const next = {
      index,
      raw,
      acked: new Set(),
      switch: () => {
        if (generation !== this.generation || this.pending !== next) return;
        if (this.pendingTimer !== null) this.cancel(this.pendingTimer);
        this.pendingTimer = null;
        this.pending = null;
        this.current = { index, raw, since: this.joins };
        this.keys({ type: 'own', keyId: this.keyId, index, raw });
        this.changed();
      },
    };
    this.pending = next;
    this.rotations++;
    for (const [id, p] of this.peers) {
      if (p.verified && p.pair) this.send(id, await sealSenderKey(p.pair, this.self, id, index, raw));
    }
    this.pendingTimer = this.schedule(() => this.queue(async () => next.switch()), ROTATE_DELAY_MS);
    this.maybeSwitch();
  }

  /** Everyone we sent the pending key to has it: use it now. */
  maybeSwitch() {
    const next = this.pending;
    if (!next) return;
    const waiting = [...this.peers.entries()].some(([id, p]) => p.verified && p.pair && !next.acked.has(id));
    if (!waiting) next.switch();
  }

  /** @param {string} from @param {Bytes} msg */
  onAck(from, msg) {
    if (msg.length !== 2 || !this.pending || msg[1] !== this.pending.index || !this.peers.has(from)) return;
    this.pending.acked.add(from);
    this.maybeSwitch();
  }

  /** @param {string} from @param {Bytes} msg @param {number} generation */
  async onHello(from, msg, generation) {
    const peer = this.peers.get(from);
    if (!peer || !this.secrets || !this.identity || !this.self) return;
    const hello = await openHello(this.secrets.mac, from, msg);
    if (!hello || generation !== this.generation) return;
    if (peer.pub && sameBytes(peer.pub, hello.pub) && peer.verified === hello.verified) return;
    if (!peer.helloSent) {
      peer.helloSent = true;
      this.send(from, await sealHello(this.secrets.mac, this.self, this.keyId, this.identity.pub));
    }
    peer.pub = hello.pub;
    if (!hello.verified) {
      // Another link key: this participant gets nothing from us and we take
      // nothing from them.
      peer.verified = false;
      peer.untrusted = true;
      peer.pair = null;
      this.changed();
      await this.roundProgress();
      return;
    }
    const taken = [...this.peers.entries()].some(([id, p]) => id !== from && p.verified && p.keyId === hello.keyId);
    if (taken || hello.keyId === this.keyId) {
      // Two participants may not name the same sender key id: the first keeps it.
      peer.untrusted = true;
      this.changed();
      return;
    }
    peer.keyId = hello.keyId;
    peer.verified = true;
    peer.untrusted = false;
    peer.pair = await pairKey(this.identity, this.self, from, hello.pub, this.secrets.salt);
    if (generation !== this.generation || !this.current) return;
    // Never a key we encrypted with before they joined (see `joins`).
    if (this.current.since >= peer.since) {
      this.send(from, await sealSenderKey(peer.pair, this.self, from, this.current.index, this.current.raw));
    }
    if (this.pending) this.send(from, await sealSenderKey(peer.pair, this.self, from, this.pending.index, this.pending.raw));
    this.changed();
    await this.roundProgress();
  }

  /** @param {string} from @param {Bytes} msg */
  async onKey(from, msg) {
    const peer = this.peers.get(from);
    if (!peer || !peer.verified || !peer.pair || peer.keyId === null || !this.self) return;
    const key = await openSenderKey(peer.pair, from, this.self, msg);
    if (!key) return;
    // Check the key once, so the worker gets only usable keys.
    await importFrameKey(key.raw);
    this.keys({ type: 'peer', keyId: peer.keyId, index: key.index, raw: key.raw });
    // The sender may use it as soon as everyone has it.
    this.send(from, new Uint8Array([MSG.ack, key.index]));
    if (!peer.keyed) {
      peer.keyed = true;
      this.changed();
    }
  }

  // ---- the verification code ----------------------------------------------

  /** Everyone's ids as we see them, ourselves included. */
  view() {
    return [/** @type {string} */ (this.self), ...this.peers.keys()];
  }

  /**
   * A new view of the meeting. The round is named by the view and the one
   * before it (as everyone sees the same joins and leaves in the same
   * order, they agree on both), so a view that comes back, {A, B, C}
   * again after D joined and left, is a new round.
   * @param {string[]} previous the view before this one
   */
  async newRound(previous) {
    if (!this.identity || !this.self) return;
    const round = await viewRound(this.view(), previous);
    const nonce = newNonce();
    this.roundState = { round, nonce, commits: new Map(), reveals: new Map(), revealed: false, code: null, mismatch: false };
    this.send(null, await sealCommit(round, this.self, this.identity.pub, nonce));
    const waiting = this.early.get(toBase64Url(round)) ?? [];
    this.early.delete(toBase64Url(round));
    for (const m of waiting) await this.onRoundMessage(m.from, m.msg, false);
    await this.roundProgress();
  }

  /** @param {string} from @param {Bytes} msg @param {boolean} progress */
  async onRoundMessage(from, msg, progress) {
    const parsed = parseRoundMessage(msg);
    const r = this.roundState;
    if (!parsed || !r) return;
    if (!sameBytes(parsed.round, r.round)) {
      // A round we may start soon (their view changed before ours).
      const key = toBase64Url(parsed.round);
      const list = this.early.get(key) ?? [];
      if (list.length < 4 * 300) list.push({ from, msg });
      this.early.set(key, list);
      while (this.early.size > EARLY_ROUNDS) this.early.delete(/** @type {string} */ (this.early.keys().next().value));
      return;
    }
    if (!this.peers.has(from)) return;
    if (parsed.kind === 'commit') {
      if (!r.commits.has(from)) r.commits.set(from, parsed.commitment);
    } else if (!r.reveals.has(from)) {
      r.reveals.set(from, parsed.nonce);
    }
    if (progress) await this.roundProgress();
  }

  async roundProgress() {
    const r = this.roundState;
    if (!r || !this.self || !this.identity) return;
    const others = [...this.peers.keys()];
    if (!r.revealed && others.every((id) => r.commits.has(id))) {
      // Our nonce goes out only once everyone is committed: nobody can
      // choose their key or nonce knowing ours.
      r.revealed = true;
      this.send(null, sealReveal(r.round, r.nonce));
    }
    if (r.code !== null || r.mismatch || !r.revealed || !others.every((id) => r.reveals.has(id))) return;
    const members = [{ id: this.self, pub: this.identity.pub, nonce: r.nonce }];
    for (const id of others) {
      const p = /** @type {Peer} */ (this.peers.get(id));
      const nonce = /** @type {Bytes} */ (r.reveals.get(id));
      const commit = /** @type {Bytes} */ (r.commits.get(id));
      if (!p.pub) return;
      if (!(await opensCommitment(r.round, id, p.pub, nonce, commit))) {
        r.mismatch = true;
        this.changed();
        return;
      }
      members.push({ id, pub: p.pub, nonce });
    }
    if (this.roundState !== r) return;
    r.code = await verificationCode(r.round, members);
    this.changed();
  }
}

/** @param {boolean} helloSent @param {number} since @returns {Peer} */
function newPeer(helloSent, since) {
  return { keyId: null, pub: null, verified: false, untrusted: false, pair: null, helloSent, keyed: false, since };
}

/** @param {string} data */
function fromB64(data) {
  if (typeof data !== 'string' || data.length === 0 || data.length > 1024) return null;
  return fromBase64Url(data);
}
