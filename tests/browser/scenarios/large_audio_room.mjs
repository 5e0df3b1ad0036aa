// One Chromium participant joins a big audio room (the Rust test fills it
// with synthetic microphone publishers): its subscribe answer is compacted to
// fit the 64 KiB signalling limit, and it still receives and decodes the
// audio of every publisher. Arguments: ROOM EXPECTED_PUBLISHERS.
import { inbound, launch, newPage, saveFrames, scenario, sleep, startJoin, uiState, waitJoined } from '../lib/harness.mjs';

const [room, expectedArg] = process.argv.slice(2);
const expected = Number(expectedArg);

await scenario(async () => {
  const browser = await launch();
  const page = await newPage(browser, 'Listener');
  const started = Date.now();
  await startJoin(page, room, 'Listener');
  try {
    await waitJoined(page, 20000);
  } catch (e) {
    const state = await page.evaluate(() => ({
      state: window.kabineDebug?.session?.state ?? null,
      text: document.body.innerText.slice(0, 400),
    }));
    throw new Error(`not joined: ${JSON.stringify(state)}: ${e}`);
  }
  let decoding = 0;
  let st = null;
  while (Date.now() - started < 45000) {
    st = await inbound(page);
    const mics = st.tracks.filter((t) => t.source === 'mic' && t.kind === 'audio');
    decoding = mics.filter((t) => t.packetsReceived > 0 && t.totalSamplesReceived > 0).length;
    if (decoding >= expected) break;
    await sleep(1000);
  }
  const ms = Date.now() - started;
  // Still flowing a few seconds later: the connection stays up.
  await sleep(3000);
  const later = await inbound(page);
  const grew = later.tracks.filter((t) => t.source === 'mic' && t.totalSamplesReceived >
    (st?.tracks.find((o) => o.mid === t.mid)?.totalSamplesReceived ?? 0)).length;
  saveFrames();
  const answerBytes = await page.evaluate(() => window.kabineDebug?.session?.answerBytes ?? null);
  const ui = await uiState(page);
  return {
    ms,
    decoding,
    grew,
    micTracks: later.tracks.filter((t) => t.source === 'mic').length,
    answerBytes,
    participants: Object.keys(later.names).length,
    audios: ui.audios,
    state: await page.evaluate(() => window.kabineDebug?.session?.state ?? null),
  };
});
