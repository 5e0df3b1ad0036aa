// Simulcast: a subscriber that shows the publisher in small tiles receives a
// lower layer than one that shows the publisher full-size (pinned).
import { inbound, joinAll, launch, scenario, screenshot, sleep, uniqueRoom, waitAllReceiving } from '../lib/harness.mjs';

/** Paula's camera frame size at `page`. */
async function frameSize(page) {
  const st = await inbound(page);
  const t = st.tracks.find((x) => x.name === 'Paula' && x.source === 'camera');
  return { width: t?.frameWidth ?? 0, height: t?.frameHeight ?? 0, frames: t?.framesDecoded ?? 0 };
}

await scenario(async () => {
  const browser = await launch();
  const people = [
    { name: 'Paula', viewport: { width: 640, height: 480 } },
    { name: 'Large', viewport: { width: 1600, height: 900 } },
    { name: 'Small', viewport: { width: 480, height: 320 } },
  ];
  await joinAll(browser, uniqueRoom('simulcast'), people);
  await waitAllReceiving(people, 10000);
  const [, large, small] = people;
  // Large pins Paula: her camera fills the stage.
  await large.page.evaluate(() => {
    const s = window.kabineDebug.session;
    const paula = [...s.participants.values()].find((p) => p.display_name === 'Paula');
    document.querySelector(`.tile[data-participant="${paula.id}"][data-source="camera"] .pin`).click();
  });
  // Bandwidth estimates ramp up over some seconds and layers follow them;
  // wait (up to 30 s) until the difference holds for 2 s in a row.
  const start = Date.now();
  const samples = [];
  let streak = 0;
  let big = { width: 0 };
  let tiny = { width: 0 };
  while (Date.now() - start < 30000 && streak < 4) {
    await sleep(500);
    big = await frameSize(large.page);
    tiny = await frameSize(small.page);
    samples.push({ t: Date.now() - start, large: big.width, small: tiny.width });
    streak = big.width > tiny.width && tiny.width > 0 ? streak + 1 : 0;
  }
  const heldMs = streak >= 4 ? Date.now() - start : null;
  // What each page last told the server about Paula's camera.
  const reported = {};
  for (const p of [large, small]) {
    reported[p.name] = await p.page.evaluate(() => {
      const s = window.kabineDebug.session;
      const paula = [...s.participants.values()].find((x) => x.display_name === 'Paula');
      return JSON.parse(s.lastSizes || '[]').find((x) => x.participant === paula?.id && x.source === 'camera') ?? null;
    });
  }
  // What the publisher sends per layer (diagnosis when the check fails).
  const published = await people[0].page.evaluate(async () => {
    const out = [];
    (await window.kabineDebug.session.pub.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.push({ rid: s.rid, width: s.frameWidth, height: s.frameHeight, fps: s.framesPerSecond,
          bytesSent: s.bytesSent, limitation: s.qualityLimitationReason, active: s.active });
      }
    });
    return out;
  });
  await screenshot(large.page, 'simulcast-large.png');
  await screenshot(small.page, 'simulcast-small.png');
  return { heldMs, large: big, small: tiny, samples, reported, published };
});
