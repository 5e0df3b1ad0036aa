// health.js: when the page repairs what it publishes, and when it tells the person.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CONNECT_MS, MediaHealth, REPORT_GRACE_MS, RETRY_WINDOW_MS, STALL_MS } from '../../../src/client/health.js';

const look = (publish, sent, expected = { mic: true, camera: true }, paused = false) => ({ publish, paused, expected, sent });

/** Feeds one observation a second from `from` to `to` (ms); returns every action with its time. */
function run(h, from, to, obs) {
  const out = [];
  for (let t = from; t <= to; t += 1000) for (const a of h.observe(t, obs(t))) out.push([t, a]);
  return out;
}

test('flowing media needs no action', () => {
  const h = new MediaHealth();
  h.connecting(0);
  assert.deepEqual(run(h, 0, 60000, (t) => look('connected', { mic: t, camera: t })), []);
});

test('a source that stops sending is reattached, then the session reconnects, then the person is told', () => {
  const h = new MediaHealth();
  h.connecting(0);
  // The camera sends until 5 s, then nothing; the microphone goes on.
  const acts = run(h, 0, 30000, (t) => look('connected', { mic: t, camera: Math.min(t, 5000) }));
  const kinds = acts.map(([t, a]) => `${t} ${a.kind}${a.source ? ` ${a.source}` : ''}${a.problem ? ` ${a.problem}` : ''}`);
  assert.equal(kinds[0], `${5000 + STALL_MS} reattach camera`);
  assert.equal(kinds[1], `${5000 + 2 * STALL_MS} reconnect`);
  assert.equal(kinds[2], `${5000 + 3 * STALL_MS} problem camera`);
});

test('the message goes away once the source sends again', () => {
  const h = new MediaHealth();
  h.connecting(0);
  run(h, 0, 25000, () => look('connected', { mic: 0, camera: 0 }, { mic: false, camera: true }));
  assert.equal(h.told, 'camera');
  const after = run(h, 26000, 30000, (t) => look('connected', { mic: 0, camera: t }, { mic: false, camera: true }));
  assert.deepEqual(after.map(([, a]) => a.kind), ['fixed']);
  assert.equal(h.told, null);
});

test('a source that is off, or a paused (direct) call, is never a stall', () => {
  const h = new MediaHealth();
  h.connecting(0);
  assert.deepEqual(run(h, 0, 30000, () => look('connected', { mic: 0, camera: 0 }, { mic: false, camera: false })), []);
  assert.deepEqual(run(h, 30000, 60000, () => look('connected', { mic: 0, camera: 0 }, { mic: true, camera: true }, true)), []);
});

test('connections that fail one after the other are reported as blocked after CONNECT_MS in all', () => {
  const h = new MediaHealth();
  const acts = [];
  // Each connection fails after 2 s and the session sets up the next.
  for (let t = 0; t <= CONNECT_MS + 4000; t += 1000) {
    if (t % 2000 === 0) h.connecting(t);
    acts.push(...h.observe(t, look(t % 2000 === 0 ? 'new' : 'failed', { mic: 0, camera: 0 })).map((a) => [t, a]));
  }
  assert.deepEqual(acts, [[CONNECT_MS, { kind: 'problem', problem: 'blocked' }]]);
});

test('a connection that never connects is reported as blocked once, and fixed when it connects', () => {
  const h = new MediaHealth();
  h.connecting(0);
  const acts = run(h, 0, CONNECT_MS + 20000, () => look('connecting', { mic: 0, camera: 0 }));
  assert.deepEqual(acts, [[CONNECT_MS, { kind: 'problem', problem: 'blocked' }]]);
  h.connecting(CONNECT_MS + 21000); // a reconnect: still blocked, not said again
  assert.deepEqual(run(h, CONNECT_MS + 21000, 2 * CONNECT_MS + 22000, () => look('checking', { mic: 0, camera: 0 })), []);
  const fixed = h.observe(2 * CONNECT_MS + 23000, look('connected', { mic: 1, camera: 1 }));
  assert.deepEqual(fixed, [{ kind: 'fixed' }]);
});

test('a repair that worked for a while starts again from the first step', () => {
  const h = new MediaHealth();
  h.connecting(0);
  assert.deepEqual(h.reported(1000, 'mic'), [{ kind: 'reattach', source: 'mic' }]);
  // Flowing for longer than the retry window.
  run(h, 1000, 1000 + RETRY_WINDOW_MS + 2000, (t) => look('connected', { mic: t, camera: t }));
  assert.deepEqual(h.reported(RETRY_WINDOW_MS + 5000, 'mic'), [{ kind: 'reattach', source: 'mic' }]);
});

test('the server reporting a stall counts like one seen here', () => {
  const h = new MediaHealth();
  h.connecting(0);
  assert.deepEqual(h.reported(1000, 'camera'), [{ kind: 'reattach', source: 'camera' }]);
  assert.deepEqual(h.reported(6000, 'camera'), [{ kind: 'reconnect' }]);
  assert.deepEqual(h.reported(12000, 'camera'), [{ kind: 'problem', problem: 'camera' }, { kind: 'reattach', source: 'camera' }]);
});

test('a server report right after a repair step does not escalate it', () => {
  // The page reattached the camera itself; the server's report, measured
  // over the seconds before, comes a moment later: no reconnect.
  const h = new MediaHealth();
  h.connecting(0);
  assert.deepEqual(h.reported(1000, 'camera'), [{ kind: 'reattach', source: 'camera' }]);
  assert.deepEqual(h.reported(1000 + REPORT_GRACE_MS - 1, 'camera'), []);
  // Both sources reported at once: both reattached, nothing more.
  const both = new MediaHealth();
  both.connecting(0);
  assert.deepEqual(both.reported(1000, 'mic'), [{ kind: 'reattach', source: 'mic' }]);
  assert.deepEqual(both.reported(1001, 'camera'), [{ kind: 'reattach', source: 'camera' }]);
  assert.deepEqual(both.reported(1002, 'camera'), []);
  // After the grace, a report means the repair did not help.
  assert.deepEqual(both.reported(1000 + REPORT_GRACE_MS + 2000, 'camera'), [{ kind: 'reconnect' }]);
});

test('frames an encoded transform holds back are no stall of the publisher', () => {
  // End-to-end encryption drops the camera's frames (no key): nothing is
  // sent, but attaching the track again or reconnecting would not help.
  const h = new MediaHealth();
  h.connecting(0);
  const acts = run(h, 0, 30000, (t) => ({ ...look('connected', { mic: t, camera: Math.min(t, 5000) }),
    held: { mic: 0, camera: Math.max(0, t - 5000) } }));
  assert.deepEqual(acts, []);
  // The same without the held frames is a stall.
  const h2 = new MediaHealth();
  h2.connecting(0);
  assert.ok(run(h2, 0, 30000, (t) => look('connected', { mic: t, camera: Math.min(t, 5000) })).length > 0);
});
