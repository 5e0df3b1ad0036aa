// therapy.js and patient.js without a browser: the therapist's session
// timer text, the bandwidth estimate in words, and measuring it from
// /api/probe (a stubbed fetch: bytes over the time they took).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { elapsedText } from '../../../src/client/therapy.js';
import { bandwidthText, measureBandwidth } from '../../../src/client/patient.js';
import { setLanguage } from '../../../src/client/i18n.js';

test('the session timer shows minutes and seconds, hours once there are any', () => {
  assert.equal(elapsedText(0), '0:00');
  assert.equal(elapsedText(65), '1:05');
  assert.equal(elapsedText(59 * 60 + 59.9), '59:59');
  assert.equal(elapsedText(3725), '1:02:05');
  assert.equal(elapsedText(-3), '0:00', 'a clock running behind the server never shows negative time');
});

test('the bandwidth in words: good from 2 Mbit/s, fair from 0.6, weak below, in both languages', () => {
  setLanguage('en');
  assert.match(bandwidthText(25.4), /^Connection good \(about 25 Mbit\/s\)/);
  assert.match(bandwidthText(2), /^Connection good \(about 2\.0 Mbit\/s\)/);
  assert.match(bandwidthText(1.99), /^Connection fair/);
  assert.match(bandwidthText(0.6), /^Connection fair/);
  assert.match(bandwidthText(0.59), /^Connection weak \(about 0\.6 Mbit\/s\)/);
  assert.match(bandwidthText(null), /could not be measured/);
  setLanguage('de');
  assert.match(bandwidthText(0.3), /^Verbindung schwach/);
  assert.match(bandwidthText(5), /^Verbindung gut/);
  setLanguage('en');
});

test('the estimate is the probe\'s bits over the time it took, never cached, and null on failure', async () => {
  const calls = [];
  let now = 1000;
  globalThis.performance = { now: () => now };
  globalThis.fetch = async (url, init) => {
    calls.push({ url, init });
    now += 500; // 256 KiB in 0.5 s = 4.19 Mbit/s
    return { ok: true, arrayBuffer: async () => new ArrayBuffer(256 * 1024) };
  };
  const mbit = await measureBandwidth();
  assert.ok(Math.abs(mbit - (256 * 1024 * 8) / 0.5 / 1e6) < 1e-9, String(mbit));
  assert.match(calls[0].url, /^\/api\/probe\?/);
  assert.equal(calls[0].init.cache, 'no-store');
  globalThis.fetch = async () => ({ ok: false });
  assert.equal(await measureBandwidth(), null);
  globalThis.fetch = async () => { throw new TypeError('offline'); };
  assert.equal(await measureBandwidth(), null);
});
