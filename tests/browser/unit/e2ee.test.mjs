// e2ee.js and e2ee-keys.js: frame encryption, the key ring, and the key
// exchange of several participants over a relay that may misbehave.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  KeyRing, TRAILER_BYTES, TAG_BYTES, clearBytes, decryptFrame, encryptFrame, fromBase64Url, frameTrailer,
  importFrameKey, linkKeyFromHash, linkKeyToHash, linkSecrets, newIdentity, newLinkKey, newNonce, newSenderKey,
  openHello, openSenderKey, pairKey, parseRoundMessage, ratchet, sealCommit, sealHello, sealReveal, sealSenderKey,
  toBase64Url, viewRound,
} from '../../../src/client/e2ee.js';
import { KeyExchange, ROTATE_DELAY_MS } from '../../../src/client/e2ee-keys.js';

const vp8Key = () => {
  // A VP8 key frame starts with bit 0 clear, then the start code and size.
  const f = new Uint8Array(1200);
  for (let i = 0; i < f.length; i++) f[i] = (i * 7) & 0xff;
  f.set([0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
  return f;
};
const vp8Delta = () => new Uint8Array([0x31, 0x04, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

test('the link key round-trips through the fragment and is 128 bits', () => {
  const k = newLinkKey();
  assert.equal(k.length, 16);
  const hash = linkKeyToHash(k);
  assert.match(hash, /^#k=[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(linkKeyFromHash(hash), k);
  assert.deepEqual(linkKeyFromHash(`#x=1&${hash.slice(1)}`), k);
  assert.equal(linkKeyFromHash('#k=short'), null);
  assert.equal(linkKeyFromHash('#k=!!!!!!!!!!!!!!!!!!!!!!'), null);
  assert.equal(linkKeyFromHash(''), null);
});

test('the first bytes of a frame stay in clear: 10 of a VP8 key frame, 3 of a delta frame, 1 of Opus', async () => {
  assert.equal(clearBytes('video', vp8Key()), 10);
  assert.equal(clearBytes('video', vp8Delta()), 3);
  assert.equal(clearBytes('audio', new Uint8Array([0xfc, 1, 2])), 1);
  const key = await importFrameKey(newSenderKey());
  for (const [kind, frame] of [['video', vp8Key()], ['video', vp8Delta()], ['audio', new Uint8Array([0xfc, 9, 9, 9])]]) {
    const n = clearBytes(kind, frame);
    const enc = await encryptFrame(key, kind, frame, { keyId: 0xdeadbeef, index: 3, counter: 77 });
    assert.equal(enc.length, frame.length + TAG_BYTES + TRAILER_BYTES);
    assert.deepEqual(enc.subarray(0, n), frame.subarray(0, n), 'clear header unchanged');
    assert.notDeepEqual(enc.subarray(n, frame.length), frame.subarray(n), 'the rest is not');
    assert.deepEqual(frameTrailer(enc), { keyId: 0xdeadbeef, index: 3, counter: 77 });
    assert.deepEqual(await decryptFrame(key, kind, enc), frame);
  }
});

test('a frame that was changed, or is in clear, or under another key does not decrypt', async () => {
  const raw = newSenderKey();
  const key = await importFrameKey(raw);
  const enc = await encryptFrame(key, 'video', vp8Key(), { keyId: 1, index: 0, counter: 1 });
  for (const at of [0, 5, 9, 10, 500, enc.length - 12, enc.length - 5]) {
    const bad = enc.slice();
    bad[at] ^= 1;
    assert.equal(await decryptFrame(key, 'video', bad), null, `bit flipped at ${at}`);
  }
  assert.equal(await decryptFrame(key, 'video', vp8Key()), null, 'a clear frame is refused');
  assert.equal(await decryptFrame(await importFrameKey(newSenderKey()), 'video', enc), null);
});

test('the key ring follows a ratchet, keeps a few keys, and forgets a sender', async () => {
  const ring = new KeyRing();
  const k0 = newSenderKey();
  const k1 = await ratchet(k0);
  const k2 = await ratchet(k1);
  assert.notDeepEqual(k1, k0);
  const frame = (raw, index, counter) => importFrameKey(raw).then((k) => encryptFrame(k, 'video', vp8Delta(), { keyId: 9, index, counter }));
  assert.deepEqual((await ring.decrypt('video', await frame(k0, 0, 1))).error, 'no_key');
  await ring.set(9, 0, k0);
  assert.ok('plain' in (await ring.decrypt('video', await frame(k0, 0, 2))));
  // The sender ratcheted twice (two joins): derived here, never sent.
  const r = await ring.decrypt('video', await frame(k2, 2, 3));
  assert.ok('plain' in r, JSON.stringify(r));
  // A key index with a fresh random key that has not arrived does not decrypt by ratchet.
  const fresh = newSenderKey();
  assert.equal((await ring.decrypt('video', await frame(fresh, 3, 4))).error, 'failed');
  await ring.set(9, 3, fresh);
  assert.ok('plain' in (await ring.decrypt('video', await frame(fresh, 3, 5))));
  assert.equal((await ring.decrypt('video', vp8Delta())).error, 'clear');
  ring.forget(9);
  assert.equal((await ring.decrypt('video', await frame(fresh, 3, 6))).error, 'no_key');
});

test('hellos verify only with the same link key and the same participant id', async () => {
  const link = newLinkKey();
  const a = await linkSecrets(link, 'Room');
  const same = await linkSecrets(link, 'room');
  const other = await linkSecrets(newLinkKey(), 'room');
  const otherRoom = await linkSecrets(link, 'room2');
  const id = await newIdentity();
  const hello = await sealHello(a.mac, 'alice', 77, id.pub);
  assert.equal((await openHello(same.mac, 'alice', hello)).verified, true);
  assert.equal((await openHello(same.mac, 'mallory', hello)).verified, false);
  assert.equal((await openHello(other.mac, 'alice', hello)).verified, false);
  assert.equal((await openHello(otherRoom.mac, 'alice', hello)).verified, false);
  assert.equal(await openHello(same.mac, 'alice', hello.slice(1)), null);
});

test('a sender key crosses the pairwise channel only to the participant it is for', async () => {
  const { salt } = await linkSecrets(newLinkKey(), 'room');
  const a = await newIdentity();
  const b = await newIdentity();
  const c = await newIdentity();
  const ab = await pairKey(a, 'a', 'b', b.pub, salt);
  const ba = await pairKey(b, 'b', 'a', a.pub, salt);
  const ca = await pairKey(c, 'c', 'a', a.pub, salt);
  const raw = newSenderKey();
  const msg = await sealSenderKey(ab, 'a', 'b', 5, raw);
  assert.deepEqual(await openSenderKey(ba, 'a', 'b', msg), { index: 5, raw });
  assert.equal(await openSenderKey(ca, 'a', 'c', msg), null, 'a third participant cannot open it');
  assert.equal(await openSenderKey(ba, 'a', 'x', msg), null, 'bound to its recipient');
});

// ---- several participants over a relay --------------------------------------

/**
 * A room of participants with key exchanges and key rings, joined over a
 * relay like the server's (sender from the connection, only within the
 * room). `tamper(from, to, data)` may change or drop what is relayed.
 */
function meeting({ tamper = null, now = null } = {}) {
  const people = new Map();
  const timers = [];
  const relay = (from, to, data) => {
    for (const p of people.values()) {
      if (p.id === from || (to !== null && p.id !== to)) continue;
      const d = tamper ? tamper(from, p.id, data) : data;
      if (d !== null) p.kx.receive(from, d);
    }
  };
  return {
    people,
    async join(id, linkKey) {
      const ring = new KeyRing();
      const own = { keyId: 0, index: 0, raw: null };
      const p = { id, ring, own, counter: 0 };
      p.kx = new KeyExchange({
        room: 'therapy-group',
        linkKey,
        send: (to, data) => relay(id, to, data),
        keys: (u) => {
          if (u.type === 'own') Object.assign(own, u);
          else if (u.type === 'peer') ring.set(u.keyId, u.index, u.raw);
          else ring.forget(u.keyId);
        },
        schedule: (fn, ms) => timers.push(fn),
        cancel: () => {},
      });
      const others = [...people.keys()];
      for (const o of people.values()) o.kx.joined(id);
      people.set(id, p);
      await p.kx.start(id, others);
      return p;
    },
    leave(id) {
      const p = people.get(id);
      people.delete(id);
      for (const o of people.values()) o.kx.left(id);
      return p;
    },
    /** Runs the rotation timers (the delay passed). */
    async elapse() {
      for (const fn of timers.splice(0)) fn();
      await this.settled();
    },
    async settled() {
      for (let i = 0; i < 6; i++) await Promise.all([...people.values()].map((p) => p.kx.settled()));
      await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 6; i++) await Promise.all([...people.values()].map((p) => p.kx.settled()));
    },
  };
}

/** `p` encrypts one frame as its worker would. */
async function frameOf(p) {
  const key = await importFrameKey(p.own.raw);
  return encryptFrame(key, 'video', vp8Key(), { keyId: p.own.keyId, index: p.own.index, counter: ++p.counter });
}

async function reads(reader, writer) {
  return 'plain' in (await reader.ring.decrypt('video', await frameOf(writer)));
}

test('three participants with the link key read each other and agree on the verification code', async () => {
  const m = meeting();
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  const c = await m.join('cyd', link);
  await m.settled();
  for (const x of [a, b, c]) for (const y of [a, b, c]) if (x !== y) assert.ok(await reads(x, y), `${x.id} reads ${y.id}`);
  for (const x of [a, b, c]) for (const y of [a, b, c]) if (x !== y) assert.equal(x.kx.peerState(y.id), 'keyed');
  const codes = [a, b, c].map((p) => p.kx.code);
  assert.match(codes[0], /^\d{3} \d{3}$/);
  assert.deepEqual(new Set(codes).size, 1, `one code: ${codes}`);
});

test('a newcomer cannot read what was sent before it joined; the others read on without new keys', async () => {
  const m = meeting();
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.settled();
  const before = await frameOf(a);
  const c = await m.join('cyd', link);
  await m.settled();
  assert.equal(a.own.index, 2, 'ann ratcheted once for ben and once for cyd');
  assert.ok('error' in (await c.ring.decrypt('video', before)), 'cyd cannot read ann from before');
  assert.ok(await reads(c, a));
  assert.ok(await reads(b, a), 'ben ratchets ann\'s key himself');
});

test('after a leave every sender moves to a new key within the delay, and the leaver reads nothing new', async () => {
  const m = meeting();
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  const c = await m.join('cyd', link);
  await m.settled();
  const index = { a: a.own.index, b: b.own.index };
  assert.ok(await reads(c, a));
  m.leave('cyd');
  await m.settled();
  // Everyone confirmed the new keys: in use without waiting for the delay.
  assert.equal(a.own.index, (index.a + 1) & 0xff);
  assert.equal(b.own.index, (index.b + 1) & 0xff);
  assert.ok(await reads(b, a));
  assert.ok(await reads(a, b));
  // The leaver kept every key it had: nothing new decrypts.
  assert.equal(await reads(c, a), false);
  assert.equal(await reads(c, b), false);
  assert.ok(ROTATE_DELAY_MS < 2000);
});

test('a new sender key waits for the delay when someone has not confirmed it', async () => {
  // The relay loses ben's confirmations: ann keeps her old key until the delay ends.
  const m = meeting({ tamper: (from, to, data) => (from === 'ben' && fromBase64Url(data)[0] === 5 ? null : data) });
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.join('cyd', link);
  await m.settled();
  const before = a.own.index;
  const benBefore = b.own.index;
  m.leave('cyd');
  await m.settled();
  assert.equal(a.own.index, before, 'waits: ben has not confirmed');
  assert.equal(b.own.index, (benBefore + 1) & 0xff, 'ben switched on ann\'s confirmation');
  await m.elapse();
  assert.equal(a.own.index, (before + 1) & 0xff);
  assert.ok(await reads(b, a));
});

test('a participant with another link key gets no key and takes none; the others are unaffected', async () => {
  const m = meeting();
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const w = await m.join('wes', newLinkKey());
  const b = await m.join('ben', link);
  await m.settled();
  assert.equal(await reads(w, a), false);
  assert.equal(await reads(w, b), false);
  assert.equal(await reads(a, w), false);
  assert.equal(a.kx.peerState('wes'), 'untrusted');
  assert.equal(w.kx.peerState('ann'), 'untrusted');
  assert.ok(await reads(a, b));
  assert.ok(await reads(b, a));
});

test('a relay that swaps public keys without the link key is refused', async () => {
  // The server replaces ben's hello to ann with one of its own key pair
  // and a MAC it cannot compute without the link key.
  const fake = await newIdentity();
  const wrong = await linkSecrets(newLinkKey(), 'therapy-group');
  const forged = toBase64Url(await sealHello(wrong.mac, 'ben', 0x1234, fake.pub));
  const m = meeting({ tamper: (from, to, data) => (from === 'ben' && to === 'ann' && fromBase64Url(data)[0] === 1 ? forged : data) });
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.settled();
  assert.equal(a.kx.peerState('ben'), 'untrusted');
  assert.equal(await reads(a, b), false);
});

test('a relay that knows the link key and sits in the middle makes the codes differ', async () => {
  // A leaked link: the server can forge hellos. It shows ann and ben its
  // own public keys for each other (and commits and reveals nonces for
  // them), so it could re-encrypt their sender keys; the verification
  // codes both complete, and differ.
  const link = newLinkKey();
  const secrets = await linkSecrets(link, 'therapy-group');
  const fake = { ann: await newIdentity(), ben: await newIdentity() };
  const nonce = { ann: newNonce(), ben: newNonce() };
  const forged = new Map();
  const m = meeting({
    tamper: (from, to, data) => {
      const bytes = fromBase64Url(data);
      if (bytes[0] === 2) return data;
      const round = parseRoundMessage(bytes)?.round;
      const key = `${bytes[0]} ${from}>${to} ${round ? toBase64Url(round) : ''}`;
      return forged.get(key) ?? data;
    },
  });
  // What the server sends instead, prepared for the round of the view {ann, ben}.
  const round = await viewRound(['ann', 'ben'], ['ann']);
  const r = toBase64Url(round);
  for (const [from, to] of [['ann', 'ben'], ['ben', 'ann']]) {
    forged.set(`1 ${from}>${to} `, toBase64Url(await sealHello(secrets.mac, from, (from === 'ann' ? 11 : 12), fake[from].pub)));
    forged.set(`3 ${from}>${to} ${r}`, toBase64Url(await sealCommit(round, from, fake[from].pub, nonce[from])));
    forged.set(`4 ${from}>${to} ${r}`, toBase64Url(sealReveal(round, nonce[from])));
  }
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.settled();
  assert.match(a.kx.code ?? '', /^\d{3} \d{3}$/, 'ann has a code');
  assert.match(b.kx.code ?? '', /^\d{3} \d{3}$/, 'ben has a code');
  assert.notEqual(a.kx.code, b.kx.code);
});

test('an honest relay gives the same code to everyone, again after a leave', async () => {
  const m = meeting();
  const link = newLinkKey();
  const people = [];
  for (const id of ['p1', 'p2', 'p3', 'p4']) people.push(await m.join(id, link));
  await m.settled();
  assert.equal(new Set(people.map((p) => p.kx.code)).size, 1);
  const first = people[0].kx.code;
  m.leave('p4');
  await m.settled();
  const left = people.slice(0, 3).map((p) => p.kx.code);
  assert.equal(new Set(left).size, 1, `${left}`);
  assert.match(left[0], /^\d{3} \d{3}$/);
  assert.notEqual(left[0], first, 'a new view has a new code');
});

test('frames are byte for byte those of the Rust implementation (src/loadgen/frame_crypto.rs)', async () => {
  const key = await importFrameKey(new Uint8Array(16).map((_, i) => i));
  const hex = (b) => Buffer.from(b).toString('hex');
  const video = new Uint8Array([0x31, 0x04, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(hex(await encryptFrame(key, 'video', video, { keyId: 0xdeadbeef, index: 3, counter: 77 })),
    '3104009a306f0af2f10c8e642e395099563edf473fcb8f6813c09f65f50000004d03deadbeef01');
  assert.equal(hex(await encryptFrame(key, 'audio', new Uint8Array([0xfc, 0xaa, 0xbb]), { keyId: 1, index: 0, counter: 0 })),
    'fcc93a66d54181f2697c4295bce00d7eea618e00000000000000000101');
});

// ---- joins and leaves in every order: a newcomer never gets a key that
// encrypted a frame before it joined, a leaver never one used after ----------

/** The relay loses every `ack` while `lose.acks` is set: new keys wait for the delay. */
function lossyMeeting() {
  const lose = { acks: false, from: new Set(), held: [] };
  const m = meeting({
    tamper: (from, to, data) => {
      if (lose.acks && fromBase64Url(data)[0] === 5) return null;
      if (lose.from.has(from)) {
        lose.held.push({ from, to, data });
        return null;
      }
      return data;
    },
  });
  /** Delivers what was held from `id`, in order. */
  m.release = (id) => {
    lose.from.delete(id);
    for (const h of lose.held.splice(0)) {
      if (h.from !== id) lose.held.push(h);
      else m.people.get(h.to)?.kx.receive(h.from, h.data);
    }
  };
  m.lose = lose;
  return m;
}

test('someone who joins while a leave\'s new key waits gets neither the key in use nor its ratchet', async () => {
  const m = lossyMeeting();
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.join('cyd', link);
  await m.settled();
  const before = await frameOf(a);
  // Nobody's confirmation arrives: ann's (and ben's) new key waits for the delay.
  m.lose.acks = true;
  const cyd = m.leave('cyd');
  await m.settled();
  assert.ok(a.kx.pending, 'ann\'s new key waits');
  const index = a.own.index;
  const d = await m.join('dan', link);
  await m.settled();
  assert.equal(a.own.index, index, 'no ratchet of a key the leaver has');
  const during = await frameOf(a);
  assert.equal('plain' in (await d.ring.decrypt('video', before)), false, 'dan reads nothing from before his join');
  assert.equal('plain' in (await d.ring.decrypt('video', during)), false, 'nor under the key in use when he came');
  // The delay ends: everyone uses the new keys; dan reads them, cyd does not.
  await m.elapse();
  assert.equal(a.kx.pending, null);
  for (const [x, y] of [[d, a], [d, b], [a, d], [b, d], [a, b], [b, a]]) assert.ok(await reads(x, y), `${x.id} reads ${y.id}`);
  for (const y of [a, b, d]) assert.equal(await reads(cyd, y), false, `the leaver reads ${y.id}`);
});

test('a join whose hello comes after a leave gets the key in use only if it is newer than the join', async () => {
  const m = lossyMeeting();
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.join('cyd', link);
  await m.settled();
  const before = await frameOf(a);
  // Dan's hello is held: ann ratchets for him, then cyd leaves, then dan's hello arrives.
  m.lose.from.add('dan');
  const d = await m.join('dan', link);
  await m.settled();
  const ratcheted = await frameOf(a);
  m.lose.acks = true;
  const cyd = m.leave('cyd');
  await m.settled();
  assert.ok(a.kx.pending);
  m.release('dan');
  await m.settled();
  assert.equal('plain' in (await d.ring.decrypt('video', before)), false, 'dan reads nothing from before his join');
  assert.ok('plain' in (await d.ring.decrypt('video', ratcheted)), 'the ratchet made for dan is his');
  await m.elapse();
  for (const [x, y] of [[d, a], [d, b], [a, d], [b, d]]) assert.ok(await reads(x, y), `${x.id} reads ${y.id}`);
  for (const y of [a, b, d]) assert.equal(await reads(cyd, y), false, `the leaver reads ${y.id}`);
});

test('two joins in quick succession, the second while a leave\'s key waits: neither reads what came before it', async () => {
  const m = lossyMeeting();
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.join('cyd', link);
  await m.settled();
  const d = await m.join('dan', link);
  m.lose.acks = true;
  const cyd = m.leave('cyd');
  await m.settled();
  const beforeEve = await frameOf(a);
  const e = await m.join('eve', link);
  const f = await m.join('fay', link);
  await m.settled();
  assert.equal('plain' in (await e.ring.decrypt('video', beforeEve)), false, 'eve reads nothing from before her join');
  assert.equal('plain' in (await f.ring.decrypt('video', beforeEve)), false, 'fay reads nothing from before her join');
  await m.elapse();
  const here = [a, b, d, e, f];
  for (const x of here) for (const y of here) if (x !== y) assert.ok(await reads(x, y), `${x.id} reads ${y.id}`);
  for (const y of here) assert.equal(await reads(cyd, y), false, `the leaver reads ${y.id}`);
});

test('a new key whose confirmations never come is used after the delay; a newcomer meanwhile gets only that one', async () => {
  // Only the newcomer's confirmations are lost, after ben's came: ann waits for dan.
  const m = meeting({ tamper: (from, to, data) => (from === 'dan' && fromBase64Url(data)[0] === 5 ? null : data) });
  const link = newLinkKey();
  const a = await m.join('ann', link);
  const b = await m.join('ben', link);
  await m.join('cyd', link);
  await m.settled();
  const before = await frameOf(a);
  const cyd = m.leave('cyd');
  const d = await m.join('dan', link);
  await m.settled();
  assert.equal('plain' in (await d.ring.decrypt('video', before)), false);
  await m.elapse();
  assert.equal(a.kx.pending, null);
  for (const [x, y] of [[d, a], [d, b], [a, d], [b, a]]) assert.ok(await reads(x, y), `${x.id} reads ${y.id}`);
  for (const y of [a, b, d]) assert.equal(await reads(cyd, y), false, `the leaver reads ${y.id}`);
});

test('random joins, leaves, lost confirmations and delays: no key crosses a join backwards or a leave forwards', async () => {
  // A fixed seed: a failure is reproducible.
  let seed = 0x2545f491;
  const rnd = (n) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  for (let run = 0; run < 25; run++) {
    const m = lossyMeeting();
    const link = newLinkKey();
    const everyone = new Map();
    /** Frames as sent: writer, step, and who was in the room. */
    const sent = [];
    /** Step of each join and leave; steps after which every leave's key is in use. */
    const joinedAt = new Map();
    const leftAt = new Map();
    const clean = [];
    let step = 0;
    let next = 0;
    const join = async () => {
      const id = `p${next++}`;
      joinedAt.set(id, ++step);
      everyone.set(id, await m.join(id, link));
    };
    await join();
    await join();
    for (let op = 0; op < 14; op++) {
      const here = [...m.people.values()];
      const r = rnd(10);
      if (r < 3 && m.people.size < 6) await join();
      else if (r < 5 && m.people.size > 2) {
        const id = here[rnd(here.length)].id;
        leftAt.set(id, ++step);
        m.leave(id);
      } else if (r < 6) m.lose.acks = !m.lose.acks;
      else if (r < 7) await m.settled();
      else if (r < 8) {
        await m.elapse();
        if ([...m.people.values()].every((p) => !p.kx.pending)) clean.push(++step);
      } else {
        step++;
        for (const p of here) sent.push({ writer: p.id, step, frame: await frameOf(p) });
      }
    }
    m.lose.acks = false;
    await m.elapse();
    await m.elapse();
    for (const s of sent) {
      for (const [id, p] of everyone) {
        const cameAfter = joinedAt.get(id) > s.step;
        const wentBefore = leftAt.has(id) && clean.some((c) => c > leftAt.get(id) && c < s.step);
        if (!cameAfter && !wentBefore) continue;
        const ok = 'plain' in (await p.ring.decrypt('video', s.frame));
        assert.equal(ok, false, `run ${run}: ${id} (joined ${joinedAt.get(id)}, left ${leftAt.get(id)}) reads ${s.writer}'s frame of step ${s.step}`);
      }
    }
    // Once the delays passed, everyone here reads everyone here, and no leaver reads anyone.
    const here = [...m.people.values()];
    for (const x of here) for (const y of here) if (x !== y) assert.ok(await reads(x, y), `run ${run}: ${x.id} reads ${y.id}`);
    for (const [id, p] of everyone) {
      if (!leftAt.has(id)) continue;
      for (const y of here) assert.equal(await reads(p, y), false, `run ${run}: the leaver ${id} reads ${y.id}`);
    }
  }
});
