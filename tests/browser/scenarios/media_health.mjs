// A participant whose media does not reach the others is not left silent:
// the page notices, repairs what it can, and tells the person what it
// cannot repair.
//
// Usage: media_health.mjs CASE
//   camera_stops  three in a call; Anna's camera stops sending behind the
//                 client's back (its encodings switched off): the page
//                 notices within seconds and the others see her again
//   camera_dead   Anna's camera delivers no picture at all: the page tries
//                 to repair it, then tells her the others cannot see her
//                 (and they still hear her)
//   blocked       Anna's media cannot reach the server (as behind a firewall
//                 that drops UDP: her page is given the server's candidates
//                 with an address nothing answers on, 192.0.2.1): she is
//                 told that her network may block video calls
import { launch, newPage, ownMedia, scenario, sleep, startJoin, uniqueRoom, waitEveryoneFlowing, waitInPage, waitJoined } from '../lib/harness.mjs';

const kase = process.argv[2] ?? 'camera_stops';

/** The problem notice of a page (null: hidden). */
const notice = (page) => page.evaluate(() => {
  const el = document.getElementById('media-problem');
  return el && !el.hidden ? el.textContent : null;
});

/** A camera that opens but never delivers a picture, from before the page's scripts run. */
async function deadCamera(page) {
  await page.evaluateOnNewDocument(() => {
    const md = navigator.mediaDevices;
    if (!md?.getUserMedia) return;
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = async (constraints) => {
      const audio = constraints?.audio ? await original({ audio: constraints.audio }) : null;
      const tracks = audio ? audio.getAudioTracks() : [];
      if (constraints?.video) {
        const canvas = document.createElement('canvas');
        canvas.width = 640;
        canvas.height = 360;
        // frameRate 0: a frame only on requestFrame(), which never comes.
        tracks.push(canvas.captureStream(0).getVideoTracks()[0]);
      }
      return new MediaStream(tracks);
    };
  });
}

/** Media to the server goes nowhere: its candidates point at TEST-NET-1. */
async function blockMedia(page) {
  await page.evaluateOnNewDocument(() => {
    const original = RTCPeerConnection.prototype.setRemoteDescription;
    RTCPeerConnection.prototype.setRemoteDescription = function (desc) {
      if (desc?.sdp) {
        const sdp = desc.sdp.replace(/^(a=candidate:\S+ \d+ \S+ \d+ )\S+/gm, '$1192.0.2.1');
        return original.call(this, { type: desc.type, sdp });
      }
      return original.call(this, desc);
    };
  });
}

/** Joins everyone (pages already open) at once and waits until they are in. */
async function join(room, people) {
  await Promise.all(people.map((p) => startJoin(p.page, room, p.name)));
  await Promise.all(people.map((p) => waitJoined(p.page, 15000)));
}

await scenario(async () => {
  const chromium = await launch();
  const room = uniqueRoom(`health-${kase}`);
  const people = [{ name: 'Anna Berg' }, { name: 'Ben Okafor' }, { name: 'Cleo Santos' }];
  const [anna] = people;
  for (const p of people) p.page = await newPage(chromium, p.name);
  if (kase === 'camera_dead') await deadCamera(anna.page);
  if (kase === 'blocked') await blockMedia(anna.page);
  await join(room, people);

  if (kase === 'camera_stops') {
    await waitEveryoneFlowing(people, 15000);
    // In the grid nobody receives Anna's top layer: the server's
    // `send_layers` comes within seconds, and applying it would switch the
    // broken encodings on again before the page's own watch could notice.
    // The camera breaks once that is done.
    await waitInPage(anna.page, () => window.kabineDebug.session.timeline.some(([, s]) => s.startsWith('layers camera')), [], 15000);
    // ... and applied (the mark is made when the message arrives): a cap
    // applied after the break would repair it behind the page's back.
    await waitInPage(anna.page, () => window.kabineDebug.session.senders.camera?.sender.getParameters().encodings
      .some((e) => e.rid === 'h' && e.active === false), [], 15000);
    const brokeAt = Date.now();
    // The camera's encodings switched off behind the client's back.
    await anna.page.evaluate(async () => {
      const sender = window.kabineDebug.session.senders.camera.sender;
      const params = sender.getParameters();
      for (const e of params.encodings) e.active = false;
      await sender.setParameters(params);
    });
    await sleep(1500);
    const others = people.slice(1);
    const recoveredMs = await waitEveryoneFlowing(people, 15000, { from: brokeAt });
    // Repaired up to the layer cap: the top layer nobody receives stays off.
    const encodings = await anna.page.evaluate(() =>
      window.kabineDebug.session.senders.camera.sender.getParameters().encodings.map((e) => ({ rid: e.rid, active: e.active })));
    return { recoveredMs, encodings, others: others.map((p) => p.name), anna: await ownMedia(anna.page), notice: await notice(anna.page),
      timeline: await anna.page.evaluate(() => window.kabineDebug.session.timeline.map(([, s]) => s)) };
  }

  if (kase === 'camera_dead') {
    const start = Date.now();
    await waitInPage(anna.page, () => {
      const el = document.getElementById('media-problem');
      return el && !el.hidden;
    }, [], 40000);
    const toldMs = Date.now() - start;
    const told = await notice(anna.page);
    // The others still hear her (and see each other).
    const heard = await waitEveryoneFlowing(people, 15000, { expect: { camera: { [anna.name]: false } } });
    return { toldMs, told, heard, anna: await ownMedia(anna.page),
      timeline: await anna.page.evaluate(() => window.kabineDebug.session.timeline.map(([, s]) => s)) };
  }

  if (kase === 'blocked') {
    const start = Date.now();
    await waitInPage(anna.page, () => {
      const el = document.getElementById('media-problem');
      return el && !el.hidden;
    }, [], 30000);
    const toldMs = Date.now() - start;
    return { toldMs, told: await notice(anna.page), anna: await ownMedia(anna.page) };
  }
  throw new Error(`unknown case ${kase}`);
});
