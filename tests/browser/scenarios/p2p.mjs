// A call of two goes direct (end-to-end encrypted, nothing through the
// server), a third participant brings everyone back to the server, and when
// the third leaves the two go direct again. Reports the time of each phase
// (Date.now() ms, for the Rust test to match against the server's counters
// and a capture of the media port), how long each switch took, and the
// longest time without a new video frame around each switch.
//
// Args: the server's back-to-P2P delay in ms.
import {
  BASE_URL, frameGaps, joinAll, launch, modes, newPage, scenario, screenshot, sleep, uiState, uniqueRoom,
  waitDecodingVia, watchFrames,
} from '../lib/harness.mjs';

const backDelayMs = Number(process.argv[2] ?? 5000);
/** How long each direct phase is watched. */
const WINDOW_MS = 3000;

await scenario(async () => {
  const browser = await launch();
  const room = uniqueRoom('p2p');
  const two = [{ name: 'Anna Berg' }, { name: 'Ben Okafor' }];
  const t0 = Date.now();
  await joinAll(browser, room, two);
  const bothJoined = Date.now();
  for (const p of two) await watchFrames(p.page);
  await waitDecodingVia(two, 'direct', 15000);
  const toDirectMs = Date.now() - bothJoined;
  const direct1 = { from: Date.now() };
  await sleep(WINDOW_MS);
  await waitDecodingVia(two, 'direct', 2000);
  direct1.to = Date.now();
  const shown = { direct: await modes(two) };
  await screenshot(two[0].page, 'p2p-direct.png');
  const ui = { direct: await uiState(two[0].page) };

  // A third joins: everyone on the server within 3 s.
  const cleo = { name: 'Cleo Santos', page: await newPage(browser, 'Cleo Santos') };
  await cleo.page.goto(`${BASE_URL}/${room}`, { waitUntil: 'load' });
  await cleo.page.waitForSelector('#display-name');
  await cleo.page.type('#display-name', cleo.name);
  await cleo.page.waitForFunction(() => document.querySelector('.preview-video')?.srcObject, { timeout: 10000 });
  const joinClick = Date.now();
  await cleo.page.click('#join-button');
  await cleo.page.waitForFunction(() => window.kabineDebug?.session?.state === 'joined', { timeout: 10000 });
  const joined = Date.now();
  await watchFrames(cleo.page);
  const three = [...two, cleo];
  const thirdLog = { joinedAfterClick: joined - joinClick };
  await waitDecodingVia(three, 'server', 10000, thirdLog);
  const allServer = Date.now();
  shown.server = await modes(three);
  await screenshot(two[0].page, 'p2p-three-via-server.png');
  ui.server = await uiState(two[0].page);

  // The third leaves: the two go direct again after the delay.
  await sleep(1000);
  const left = Date.now();
  await cleo.page.click('#ctl-leave');
  await waitDecodingVia(two, 'direct', backDelayMs + 10000);
  const directAgain = Date.now();
  const direct2 = { from: Date.now() };
  await sleep(WINDOW_MS);
  await waitDecodingVia(two, 'direct', 2000);
  direct2.to = Date.now();
  shown.directAgain = await modes(two);
  await screenshot(two[1].page, 'p2p-direct-again.png');

  // Freezes across the switches (server -> direct at the start, direct ->
  // server when the third joined, server -> direct after the third left).
  const gaps = {};
  for (const p of two) {
    gaps[p.name] = {
      toDirect: await frameGaps(p.page, bothJoined, direct1.from + 1000),
      toServer: await frameGaps(p.page, joinClick - 1000, allServer + 1000),
      backToDirect: await frameGaps(p.page, left - 500, directAgain + 1000),
    };
  }
  const freezes = {};
  for (const p of two) {
    freezes[p.name] = await p.page.evaluate(async () => {
      const out = {};
      for (const t of window.kabineDebug.session.remoteTracks.values()) {
        if (t.source !== 'camera' || !t.receiver) continue;
        (await t.receiver.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp') out[t.mid] = { freezes: s.freezeCount ?? null, freezeMs: Math.round((s.totalFreezesDuration ?? 0) * 1000) };
        });
      }
      return out;
    });
  }
  // A lost signalling connection (a shared test machine changing its
  // network) would restart everything and make the figures meaningless.
  const generations = await Promise.all(two.map((p) => p.page.evaluate(() => window.kabineDebug.session.generation)));
  return {
    generations,
    phases: { t0, bothJoined, direct1, joinClick, joined, allServer, left, directAgain, direct2 },
    ms: {
      toDirect: toDirectMs,
      thirdFromClick: allServer - joinClick,
      thirdFromJoined: allServer - joined,
      backToDirect: directAgain - left,
    },
    gaps,
    thirdLog,
    freezes,
    shown,
    ui,
  };
});
