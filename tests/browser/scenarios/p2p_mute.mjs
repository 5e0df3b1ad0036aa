// A moderator's mute holds in a direct call even against a client that
// ignores it: the server forwards nothing then, so the moderator's browser
// (the only listener) plays the peer's microphone only while the server
// says it is on. The muted page is "modified": it turns its microphone
// track back on behind the server's back and keeps sending sound.
import { clickWhenVisible, joinRoom, launch, newPage, scenario, sleep, uniqueRoom, waitDecodingVia, waitInPage } from '../lib/harness.mjs';

/** The moderator's view of the peer's direct microphone. */
async function listening(page) {
  return page.evaluate(async () => {
    const s = window.kabineDebug.session;
    const mic = s.playing?.remoteTracks().find((t) => t.source === 'mic');
    let packets = 0;
    (await mic?.receiver.getStats())?.forEach((r) => {
      if (r.type === 'inbound-rtp') packets = r.packetsReceived ?? 0;
    });
    const trackId = mic?.track.id;
    const playing = [...document.querySelectorAll('audio')]
      .filter((a) => a.srcObject?.getAudioTracks().some((t) => t.id === trackId)).length;
    const listed = [...s.remoteTracks.values()].some((t) => t.source === 'mic' && t.track.id === trackId);
    return { mode: s.mode, packets, playing, listed };
  });
}

/** Energy the page's own microphone has captured so far (what it sends). */
async function sentEnergy(page) {
  return page.evaluate(async () => {
    let energy = 0;
    (await window.kabineDebug.session.playing?.pc.getStats())?.forEach((r) => {
      if (r.type === 'media-source' && r.kind === 'audio') energy = r.totalAudioEnergy ?? 0;
    });
    return energy;
  });
}

await scenario(async () => {
  const browser = await launch();
  const room = uniqueRoom('p2pmute');
  const mod = { name: 'Tara Lind', page: await newPage(browser, 'Tara Lind') };
  await joinRoom(mod.page, room, mod.name);
  const client = { name: 'Milo Brandt', page: await newPage(browser, 'Milo Brandt') };
  await joinRoom(client.page, room, client.name);
  await waitDecodingVia([mod, client], 'direct', 15000);
  const isModerator = await mod.page.evaluate(() => window.kabineDebug.session.you.moderator);
  const before = await listening(mod.page);

  await mod.page.click('#ctl-people');
  await clickWhenVisible(mod.page, '#mute-all');
  await waitInPage(client.page, () => window.kabineDebug.session.forced.has('mic') && !window.kabineDebug.session.micOn, [], 5000);
  // The modified client: microphone on again without telling anyone.
  await client.page.evaluate(() => { window.kabineDebug.session.micTrack.enabled = true; });
  const energy0 = await sentEnergy(client.page);
  await sleep(500);
  const muted0 = await listening(mod.page);
  await sleep(2500);
  const muted = await listening(mod.page);
  const energy1 = await sentEnergy(client.page);
  const shownMic = await mod.page.evaluate(() => [...window.kabineDebug.session.participants.values()]
    .find((p) => p.display_name === 'Milo Brandt')?.mic);

  // Turned on the proper way: the server shows it on, the moderator hears it.
  await client.page.evaluate(() => window.kabineDebug.session.setMicOn(true));
  await waitInPage(mod.page, () => [...document.querySelectorAll('audio')].some((a) => a.srcObject
    && a.srcObject.getAudioTracks().some((t) => t.id === window.kabineDebug.session.playing?.remoteTracks()
      .find((x) => x.source === 'mic')?.track.id)), [], 5000);
  const after = await listening(mod.page);
  const generations = await Promise.all([mod, client].map((p) => p.page.evaluate(() => window.kabineDebug.session.generation)));
  return {
    isModerator, before, muted0, muted, after, shownMic, generations,
    sentEnergy: energy1 - energy0,
  };
});
