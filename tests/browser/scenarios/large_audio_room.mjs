// One Chromium participant joins a big audio room (the Rust test fills it
// with synthetic microphone publishers, a few of them speaking): it
// receives audio on a few audio slots only, so its subscribe answer stays
// small, and it decodes the speakers the slot map names.
// Arguments: ROOM SPEAKER_NAMES (comma-separated display names).
import { inbound, launch, newPage, saveFrames, scenario, sleep, startJoin, uiState, waitJoined } from '../lib/harness.mjs';

const [room, speakersArg] = process.argv.slice(2);
const speakers = speakersArg.split(',');

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
  // Every speaker decodes on the slot the map names for them.
  const heard = (st) => speakers.filter((n) => st.tracks.some((t) =>
    t.source === 'mic' && t.kind === 'audio' && t.name === n && t.packetsReceived > 0 && t.totalSamplesReceived > 0));
  let st = await inbound(page);
  while (Date.now() - started < 45000) {
    st = await inbound(page);
    if (heard(st).length === speakers.length) break;
    await sleep(1000);
  }
  const ms = Date.now() - started;
  // Still flowing a few seconds later.
  await sleep(3000);
  const later = await inbound(page);
  const grew = later.tracks.filter((t) => t.source === 'mic' && t.totalSamplesReceived >
    (st.tracks.find((o) => o.mid === t.mid)?.totalSamplesReceived ?? 0)).length;
  saveFrames();
  const session = await page.evaluate(() => {
    const s = window.kabineDebug?.session;
    return {
      answerBytes: s?.answerBytes ?? null,
      slots: [...(s?.audioSlots?.entries() ?? [])].map(([mid, id]) => ({ mid, name: id ? s.participants.get(id)?.display_name ?? null : null })),
      audioLines: (s?.sub?.remoteDescription?.sdp.match(/^m=audio/gm) ?? []).length,
      state: s?.state ?? null,
    };
  });
  const ui = await uiState(page);
  return {
    ms,
    heard: heard(st),
    heardLater: heard(later),
    grew,
    micTracks: later.tracks.filter((t) => t.source === 'mic').map((t) => ({ mid: t.mid, name: t.name, packets: t.packetsReceived, samples: t.totalSamplesReceived })),
    participants: Object.keys(later.names).length,
    audios: ui.audios,
    ...session,
  };
});
