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
  const start = Date.now();
  let big = await frameSize(large.page);
  let tiny = await frameSize(small.page);
  while (Date.now() - start < 25000 && !(big.width > tiny.width && tiny.width > 0)) {
    await sleep(500);
    big = await frameSize(large.page);
    tiny = await frameSize(small.page);
  }
  // The difference must last, not be a passing moment: sample for 3 s.
  const samples = [];
  for (let i = 0; i < 6; i++) {
    await sleep(500);
    samples.push({ large: (await frameSize(large.page)).width, small: (await frameSize(small.page)).width });
  }
  big = await frameSize(large.page);
  tiny = await frameSize(small.page);
  const reported = {};
  for (const p of [large, small]) {
    reported[p.name] = await p.page.evaluate(() => JSON.parse(window.kabineDebug.session.lastSizes || '[]'));
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
  return { ms: Date.now() - start, large: big, small: tiny, samples, reported, published };
});
