// Layers nobody receives (docs/protocol.md): three people in the tile grid
// (every tile about 600×340: the middle layer) stop encoding and sending
// their camera's top layer `h`, and everyone still sees and hears everyone;
// once Ben pins Anna, Anna's `h` is switched on again and Ben receives her
// at full size. With `firefox`, Clara uses Firefox ESR and is the one Ben
// pins (its simulcast encodings are switched off and on the same way).
import { inbound, joinAll, launch, scenario, screenshot, sleep, uniqueRoom, waitEveryoneFlowing } from '../lib/harness.mjs';

/**
 * A publisher's camera: which encodings are on (getParameters), what each
 * rid has sent (outbound-rtp), the session's layer caps and its `layers` marks.
 */
async function layers(page) {
  return page.evaluate(async () => {
    const s = window.kabineDebug.session;
    const sender = s.senders.camera?.sender;
    if (!sender) return { active: {}, sent: {}, caps: s.layerCaps, marks: [] };
    const active = {};
    for (const e of sender.getParameters().encodings ?? []) active[e.rid ?? '-'] = e.active;
    const sent = {};
    (await sender.getStats()).forEach((x) => {
      if (x.type === 'outbound-rtp') {
        sent[x.rid ?? '-'] = { bytes: x.bytesSent ?? 0, packets: x.packetsSent ?? 0, width: x.frameWidth ?? 0 };
      }
    });
    const marks = s.timeline.filter(([, step]) => step.startsWith('layers ')).map(([t, step]) => `${t} ${step}`);
    return { active, sent, caps: { ...s.layerCaps }, marks };
  });
}

/** Waits until `check(layers)` holds for the page; returns ms taken, or throws with the last state. */
async function waitLayers(person, check, timeoutMs, what) {
  const start = Date.now();
  let last = null;
  while (Date.now() - start < timeoutMs) {
    last = await layers(person.page);
    if (check(last)) return Date.now() - start;
    await sleep(250);
  }
  throw new Error(`${person.name}: ${what} not within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

/** `name`'s camera as `page` receives it. */
async function cameraAt(page, name) {
  const st = await inbound(page);
  const t = st.tracks.find((x) => x.name === name && x.source === 'camera');
  return { width: t?.frameWidth ?? 0, height: t?.frameHeight ?? 0, frames: t?.framesDecoded ?? 0 };
}

/** Over `ms`: how much each rid of each person's camera sent (bytes, packets). */
async function growth(people, ms) {
  const before = await Promise.all(people.map((p) => layers(p.page)));
  await sleep(ms);
  const after = await Promise.all(people.map((p) => layers(p.page)));
  const out = {};
  people.forEach((p, i) => {
    out[p.name] = {};
    for (const rid of ['l', 'm', 'h']) {
      const a = after[i].sent[rid] ?? { bytes: 0, packets: 0 };
      const b = before[i].sent[rid] ?? { bytes: 0, packets: 0 };
      out[p.name][rid] = { bytes: a.bytes - b.bytes, packets: a.packets - b.packets };
    }
  });
  return out;
}

/**
 * How much each rid of `person`'s camera sent since now, once `rid` has
 * sent more than `packets` packets or `timeoutMs` passed; and after how many ms.
 */
async function flowsWithin(person, rid, packets, timeoutMs) {
  const started = Date.now();
  const before = await layers(person.page);
  for (;;) {
    await sleep(250);
    const after = await layers(person.page);
    const grown = {};
    for (const r of ['l', 'm', 'h']) {
      const a = after.sent[r] ?? { bytes: 0, packets: 0 };
      const b = before.sent[r] ?? { bytes: 0, packets: 0 };
      grown[r] = { bytes: a.bytes - b.bytes, packets: a.packets - b.packets };
    }
    const ms = Date.now() - started;
    if (grown[rid].packets > packets || ms >= timeoutMs) {
      return { growth: { [person.name]: grown }, ms: grown[rid].packets > packets ? ms : null };
    }
  }
}

const withFirefox = process.argv.includes('firefox');

await scenario(async () => {
  const browser = await launch();
  const firefox = withFirefox ? await launch({ engine: 'firefox' }) : null;
  const people = [{ name: 'Anna' }, { name: 'Ben' }, { name: 'Clara', browser: firefox ?? browser }];
  await joinAll(browser, uniqueRoom('layers'), people);
  await waitEveryoneFlowing(people, 30000);
  const flowingAt = Date.now();
  const [, ben] = people;
  // The one Ben will pin.
  const star = withFirefox ? people[2] : people[0];

  // The grid: nobody receives `h`, so nobody sends it. Ms after everyone saw everyone.
  const hOff = {};
  for (const p of people) {
    await waitLayers(p, (x) => x.active.h === false && x.active.l === true, Math.max(1000, flowingAt + 20000 - Date.now()),
      'camera layer h switched off in the grid');
    hOff[p.name] = Date.now() - flowingAt;
  }
  // A packet or two may still leave the pacer right after the switch.
  await sleep(1000);
  const gridGrowth = await growth(people, 3000);
  const gridLayers = Object.fromEntries(await Promise.all(people.map(async (p) => [p.name, await layers(p.page)])));
  await waitEveryoneFlowing(people, 15000);
  const gridStar = await cameraAt(ben.page, star.name);
  await screenshot(ben.page, 'send-layers-grid.png');

  // Ben pins Anna (or Clara): her camera fills his stage and needs `h` again.
  const pinnedAt = Date.now();
  await ben.page.evaluate((name) => {
    const s = window.kabineDebug.session;
    const a = [...s.participants.values()].find((p) => p.display_name === name);
    document.querySelector(`.tile[data-participant="${a.id}"][data-source="camera"] .pin`).click();
  }, star.name);
  const hOnMs = await waitLayers(star, (x) => x.active.h === true, 20000, 'camera layer h switched on again after the pin');
  // Her `h` then flows: within 8 s (Chromium sends at once; Firefox's
  // encoder may take a few seconds to give a resumed layer its bitrate,
  // longer on a loaded machine).
  const hFlow = await flowsWithin(star, 'h', 10, 8000);
  const pinnedGrowth = hFlow.growth;
  const hFlowMs = hFlow.ms;
  // Ben gets her at full size: wider than she was in the grid, for 1 s in a row.
  const samples = [];
  let largeMs = null;
  let streak = 0;
  let large = { width: 0 };
  while (Date.now() - pinnedAt < 30000) {
    large = await cameraAt(ben.page, star.name);
    samples.push({ t: Date.now() - pinnedAt, width: large.width });
    streak = large.width > gridStar.width ? streak + 1 : 0;
    if (streak >= 3) {
      largeMs = Date.now() - pinnedAt;
      break;
    }
    await sleep(400);
  }
  await screenshot(ben.page, 'send-layers-pinned.png');
  const starAfter = await layers(star.page);
  // The others' `h` stays off: only one is shown large.
  const othersAfter = Object.fromEntries(await Promise.all(people.filter((p) => p !== star).map(async (p) => [p.name, (await layers(p.page)).active])));
  return { engines: people.map((p) => (p.browser === firefox ? 'firefox' : 'chromium')), star: star.name, hOff, gridGrowth,
    gridLayers, gridStar, hOnMs, pinnedGrowth, hFlowMs, largeMs, large, samples, starAfter, othersAfter };
});
