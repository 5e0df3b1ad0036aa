// Two participants whose call stays on the server: because the policy
// forbids direct calls, or (with `block`) because the direct connection
// cannot connect — the test pages drop every candidate of the other
// browser (a stand-in for two symmetric NATs), so ICE never finds a path.
// Media must keep flowing through the server without a visible change.
import {
  BASE_URL, frameGaps, joinRoom, launch, modes, newPage, scenario, sleep, uniqueRoom, waitDecodingVia, watchFrames,
} from '../lib/harness.mjs';

const block = process.argv.includes('block');
/** Longer than the server's connect timeout for direct calls (6 s). */
const OBSERVE_MS = 9000;

await scenario(async () => {
  const browser = await launch();
  const room = uniqueRoom('stay');
  const two = [{ name: 'Dora Vogel' }, { name: 'Emil Hahn' }];
  for (const p of two) {
    p.page = await newPage(browser, p.name);
    if (block) {
      // Test harness only: every remote candidate of a direct connection is
      // dropped before the browser sees it. (The server connections carry
      // their candidates in the SDP and never call addIceCandidate.)
      await p.page.evaluateOnNewDocument(() => {
        window.kabineDropped = 0;
        RTCPeerConnection.prototype.addIceCandidate = function () {
          window.kabineDropped++;
          return Promise.resolve();
        };
      });
    }
  }
  await Promise.all(two.map((p) => joinRoom(p.page, room, p.name)));
  for (const p of two) await watchFrames(p.page);
  await waitDecodingVia(two, 'server', 10000);
  const from = Date.now();
  let everDirect = false;
  let directTracks = false;
  while (Date.now() - from < OBSERVE_MS) {
    for (const p of two) {
      const s = await p.page.evaluate(() => ({
        mode: window.kabineDebug.session.mode,
        shown: document.getElementById('call-mode')?.dataset.mode,
        direct: [...window.kabineDebug.session.remoteTracks.keys()].some((k) => k.startsWith('direct-')),
      }));
      everDirect ||= s.mode === 'direct' || s.shown === 'direct';
      directTracks ||= s.direct;
    }
    await sleep(150);
  }
  await waitDecodingVia(two, 'server', 3000);
  const to = Date.now();
  const gaps = {};
  for (const p of two) gaps[p.name] = { all: await frameGaps(p.page, from, to) };
  const dropped = block
    ? (await Promise.all(two.map((p) => p.page.evaluate(() => window.kabineDropped)))).reduce((a, b) => a + b, 0)
    : 0;
  const config = await two[0].page.evaluate(async (base) => (await fetch(`${base}/api/client-config`)).json(), BASE_URL);
  return { everDirect, directTracks, modes: await modes(two), gaps, dropped, directCalls: config.direct_calls };
});
