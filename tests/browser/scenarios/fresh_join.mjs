// A fresh browser join timed from the moment it is asked for: used by
// `kabine-stress slowloris --browser-join` to join while thousands of
// slow TLS connections hold the server's slots (docs/reliability.md).
//
// The browser starts first and opens a blank page; the join begins when a
// line arrives on stdin (or at once with `now`), so the attack decides
// when. Then: open the room's page, put a name in, press "Join" the
// moment it is there, and wait until the session has joined and its
// publish connection (media to the server) is connected; then leave.
//
// Reports: `pageMs` (asked → "Join" can be pressed), `joinedMs` (asked →
// the server's welcome), `connectedMs` (asked → publish connection
// connected), and `clickToConnectedMs`.
//
// Usage: fresh_join.mjs [now]
import readline from 'node:readline';
import { launch, newPage, openRoom, pressJoin, scenario, sleep, uniqueRoom } from '../lib/harness.mjs';

const now = process.argv.includes('now');

/** Resolves at the first line on stdin (or when stdin ends). */
function go() {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once('line', () => {
      rl.close();
      resolve();
    });
    rl.once('close', resolve);
  });
}

await scenario(async () => {
  const browser = await launch();
  const page = await newPage(browser, 'Fresh');
  console.log('READY');
  if (!now) await go();
  const asked = Date.now();
  await openRoom(page, uniqueRoom('fresh'));
  const pageMs = Date.now() - asked;
  const clicked = await pressJoin(page, 'Fresh Join');
  await page.waitForFunction(() => window.kabineDebug?.session?.state === 'joined', { timeout: 30000, polling: 50 });
  const joinedMs = Date.now() - asked;
  await page.waitForFunction(() => window.kabineDebug?.session?.pub?.connectionState === 'connected',
    { timeout: 30000, polling: 50 });
  const connected = Date.now();
  // Leave as a closing page does (pagehide sends `leave`), so the server
  // ends the meeting now rather than after the rejoin grace.
  await page.goto('about:blank', { waitUntil: 'load' });
  await sleep(500);
  return { pageMs, joinedMs, connectedMs: connected - asked, clickToConnectedMs: connected - clicked };
}, { timeoutMs: 90000 });
