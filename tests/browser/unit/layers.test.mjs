// layers.js: which encodings a sender has on, and that changes of one sender never overlap.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { applyLayers, clampLayers, updateSender } from '../../../src/client/layers.js';

const simulcast = () => [{ rid: 'l', active: true }, { rid: 'm', active: true }, { rid: 'h', active: true }];
const on = (encodings) => encodings.map((e) => e.active);

test('a layer cap switches off the layers above it and on again', () => {
  const e = simulcast();
  assert.equal(applyLayers(e, { sending: true, cap: 2 }), true);
  assert.deepEqual(on(e), [true, true, false]);
  assert.equal(applyLayers(e, { sending: true, cap: 2 }), false, 'nothing to change the second time');
  applyLayers(e, { sending: true, cap: 1 });
  assert.deepEqual(on(e), [true, false, false]);
  applyLayers(e, { sending: true, cap: 3 });
  assert.deepEqual(on(e), [true, true, true]);
});

test('the lowest layer is never capped away while sending', () => {
  for (const cap of [0, -1, 1]) {
    const e = simulcast();
    applyLayers(e, { sending: true, cap });
    assert.deepEqual(on(e), [true, false, false], `cap ${cap}`);
  }
});

test('paused sending switches everything off whatever the cap, and resuming keeps the cap', () => {
  const e = simulcast();
  applyLayers(e, { sending: false, cap: 3 });
  assert.deepEqual(on(e), [false, false, false]);
  applyLayers(e, { sending: true, cap: 1 });
  assert.deepEqual(on(e), [true, false, false], 'a resume does not switch suspended layers on');
});

test('an encoding without a rid (one stream) ignores the cap but follows pausing', () => {
  const e = [{ active: true }];
  assert.equal(applyLayers(e, { sending: true, cap: 1 }), false);
  assert.deepEqual(on(e), [true]);
  applyLayers(e, { sending: false, cap: 1 });
  assert.deepEqual(on(e), [false]);
  applyLayers(e, { sending: true, cap: 1 });
  assert.deepEqual(on(e), [true]);
});

test('encodings are matched by rid, not by position (Firefox may list them in another order)', () => {
  const e = [{ rid: 'h', active: true }, { rid: 'm', active: true }, { rid: 'l', active: true }];
  applyLayers(e, { sending: true, cap: 1 });
  assert.deepEqual(on(e), [false, false, true]);
});

test('a send_layers count is clamped to 1..3, and what is no number is refused', () => {
  assert.equal(clampLayers(2), 2);
  assert.equal(clampLayers(0), 1);
  assert.equal(clampLayers(-5), 1);
  assert.equal(clampLayers(7), 3);
  assert.equal(clampLayers(2.9), 2);
  for (const bad of ['2', null, undefined, NaN, Infinity, {}, true]) assert.equal(clampLayers(bad), null, String(bad));
});

/**
 * A sender that behaves like Chromium's: setParameters takes a while, and a
 * getParameters or setParameters while one is under way is refused with
 * InvalidStateError (as is a setParameters without a fresh getParameters).
 */
function fakeSender() {
  const s = {
    encodings: simulcast(),
    busy: false,
    fresh: false,
    overlaps: 0,
    sets: 0,
    getParameters() {
      if (s.busy) {
        s.overlaps++;
        throw new DOMException('getParameters during setParameters', 'InvalidStateError');
      }
      s.fresh = true;
      return { encodings: s.encodings.map((e) => ({ ...e })) };
    },
    async setParameters(p) {
      if (s.busy || !s.fresh) {
        s.overlaps++;
        throw new DOMException('overlapping setParameters', 'InvalidStateError');
      }
      s.busy = true;
      s.fresh = false;
      await new Promise((r) => setTimeout(r, 5));
      s.encodings = p.encodings;
      s.sets++;
      s.busy = false;
    },
  };
  return s;
}

test('changes of one sender run one after another and the newest wish wins', async () => {
  const sender = fakeSender();
  let want = { sending: true, cap: 3 };
  const calls = [];
  // A burst as it happens: send_layers 2, a direct call pauses, the cap goes to 1, the call ends.
  for (const next of [{ sending: true, cap: 2 }, { sending: false, cap: 2 }, { sending: false, cap: 1 }, { sending: true, cap: 1 }]) {
    want = next;
    calls.push(updateSender(sender, () => want));
  }
  await Promise.all(calls);
  assert.equal(sender.overlaps, 0, 'no call overlapped another');
  assert.deepEqual(on(sender.encodings), [true, false, false]);
  assert.ok(sender.sets <= 4);
});

test('a sender that refuses does not break the chain, and nothing rejects', async () => {
  const sender = fakeSender();
  const broken = {
    getParameters: () => ({ encodings: simulcast() }),
    setParameters: async () => {
      throw new DOMException('closed', 'InvalidStateError');
    },
  };
  assert.equal(await updateSender(broken, () => ({ sending: true, cap: 1 })), false);
  assert.equal(await updateSender(broken, () => ({ sending: true, cap: 2 })), false);
  assert.equal(await updateSender(sender, () => null), false, 'null: left as it is');
  assert.equal(await updateSender(sender, () => ({ sending: true, cap: 2 })), true);
  assert.deepEqual(on(sender.encodings), [true, true, false]);
});
