// Everyone who joins is seen and heard, whatever the timing: people click
// "Join" the moment the button is there (before the camera preview), join
// in the same second, have devices that open late or fail, join while two
// others switch from a direct call to the server, or leave and come back
// within a second. Each case reports how long it took from the last click
// until every page decoded every other's video (frames growing) and
// received their audio (packets growing), what each page shows of its own
// microphone and camera and of the others', and how many times each page
// connected (1 = no reconnect). Everyone's camera and microphone take
// 800 ms to open, as real ones do (Chromium's fake devices open at once).
//
// Usage: join_timing.mjs CASE [firefox] [repeat=N]
//   instant3       three click Join at once (with `firefox`, the third in Firefox ESR)
//   instant4       four click Join within the same second
//   late_devices   three; the third's camera and microphone take 3 s to open
//   camera_fails   three; the third's camera cannot be opened (mic only)
//   during_switch  two in a direct call; a third and, 300 ms later, a fourth join
//   rejoin         three in a call; one leaves and joins again within 1 s
//   repeat=N       (with instant3) N rounds in fresh rooms: p50, p95, worst, failures
import {
  BASE_URL, joinNow, launch, newPage, openRoom, ownMedia, pressJoin, scenario, sleep, uniqueRoom, waitDecodingVia,
  waitEveryoneFlowing,
} from '../lib/harness.mjs';

const kase = process.argv[2] ?? 'instant3';
const withFirefox = process.argv.includes('firefox');
const repeat = Number(process.argv.find((a) => a.startsWith('repeat='))?.slice('repeat='.length) ?? 0);
/** Every case must be done this long after the last click. */
const LIMIT_MS = 5000;
const NAMES = ['Anna Berg', 'Ben Okafor', 'Cleo Santos', 'Dara Novak'];
/** A real camera takes a moment to start (fake devices open at once): everyone's do here. */
const CAMERA_START_MS = 800;

/**
 * Makes `page`'s getUserMedia slow (`delayMs`) or its camera fail, from
 * before the page's own scripts run.
 */
async function devices(page, { delayMs = 0, cameraFails = false }) {
  await page.evaluateOnNewDocument((delay, failCamera) => {
    const md = navigator.mediaDevices;
    if (!md?.getUserMedia) return; // about:blank and other insecure documents
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = async (constraints) => {
      if (delay) await new Promise((r) => setTimeout(r, delay));
      if (failCamera && constraints?.video) throw new DOMException('Could not start video source', 'NotReadableError');
      const stream = await original(constraints);
      window.kabineDevicesOpenedAt = Date.now();
      return stream;
    };
  }, delayMs, cameraFails);
}

/**
 * Opens a page per person, with devices that take CAMERA_START_MS to open
 * unless `prepare` sets them up otherwise, then everyone clicks at once.
 */
async function openAndJoin(browsers, room, people, prepare = async () => false) {
  for (const p of people) {
    p.page = await newPage(p.browser ?? browsers.chromium, p.name);
    if (!(await prepare(p))) await devices(p.page, { delayMs: CAMERA_START_MS });
  }
  const clicks = await Promise.all(people.map((p) => joinNow(p.page, room, p.name)));
  return Math.max(...clicks);
}

/** What every page shows after the call settled: own controls, the others' states, connections. */
async function report(people, lastClick) {
  const out = {};
  for (const p of people) {
    out[p.name] = await ownMedia(p.page);
    out[p.name].devicesOpenedAt = await p.page.evaluate(() => window.kabineDevicesOpenedAt ?? null);
    // The page's own steps, as ms after the last click.
    out[p.name].timeline = await p.page.evaluate((click) => {
      const zero = performance.timeOrigin;
      return (window.kabineDebug?.session?.timeline ?? []).map(([t, step]) => [Math.round(zero + t - click), step]);
    }, lastClick);
  }
  return out;
}

/** One round of `kase`; returns its figures. */
async function round(browsers, k) {
  const room = uniqueRoom(`jt-${k}`);
  const people = NAMES.slice(0, k === 'instant4' || k === 'during_switch' ? 4 : 3).map((name) => ({ name }));
  if (withFirefox) people[2].browser = browsers.firefox;
  let lastClick;
  let expect = { camera: {} };
  if (k === 'instant3' || k === 'instant4') {
    lastClick = await openAndJoin(browsers, room, people);
  } else if (k === 'late_devices') {
    lastClick = await openAndJoin(browsers, room, people, async (p) => p === people[2] && devices(p.page, { delayMs: 3000 }).then(() => true));
  } else if (k === 'camera_fails') {
    lastClick = await openAndJoin(browsers, room, people, async (p) => p === people[2] && devices(p.page, { delayMs: CAMERA_START_MS, cameraFails: true }).then(() => true));
    expect = { camera: { [people[2].name]: false } };
  } else if (k === 'during_switch') {
    const two = people.slice(0, 2);
    await openAndJoin(browsers, room, two);
    await waitDecodingVia(two, 'direct', 15000);
    const [third, fourth] = people.slice(2);
    for (const p of [third, fourth]) {
      p.page = await newPage(p.browser ?? browsers.chromium, p.name);
      await devices(p.page, { delayMs: CAMERA_START_MS });
      await openRoom(p.page, room);
    }
    const c3 = await pressJoin(third.page, third.name);
    await sleep(300);
    lastClick = Math.max(c3, await pressJoin(fourth.page, fourth.name));
  } else if (k === 'rejoin') {
    await openAndJoin(browsers, room, people);
    await waitEveryoneFlowing(people, 15000);
    const leaver = people[1];
    const leftAt = Date.now();
    await leaver.page.click('#ctl-leave');
    await leaver.page.waitForSelector('.ended button');
    await leaver.page.click('.ended button');
    lastClick = await joinNow(leaver.page, room, leaver.name, { navigate: false });
    if (lastClick - leftAt > 1500) throw new Error(`rejoining took ${lastClick - leftAt} ms, not about 1 s`);
  } else {
    throw new Error(`unknown case ${k}`);
  }
  let ms;
  let error = null;
  let detail = null;
  const log = {};
  try {
    ms = await waitEveryoneFlowing(people, LIMIT_MS + 10000, { from: lastClick, expect, log });
  } catch (e) {
    error = String(e?.message ?? e);
    detail = e?.detail ?? null;
  }
  const shown = await report(people, lastClick);
  for (const p of people) await p.page.close().catch(() => {});
  return { ms, lastClick, log, error, detail, shown, engines: people.map((p) => (p.browser === browsers.firefox ? 'firefox' : 'chromium')) };
}

await scenario(async () => {
  const browsers = { chromium: await launch(), firefox: withFirefox ? await launch({ engine: 'firefox' }) : null };
  if (!repeat) {
    const r = await round(browsers, kase);
    return { case: kase, limitMs: LIMIT_MS, ...r, ok: !r.error };
  }
  const rounds = [];
  for (let i = 0; i < repeat; i++) {
    const r = await round(browsers, kase);
    rounds.push({ ms: r.ms ?? null, error: r.error, generations: Object.values(r.shown).map((s) => s.generation) });
    console.error(`round ${i + 1}/${repeat}: ${r.error ? `FAILED ${r.error.slice(0, 300)}` : `${r.ms} ms`}`);
  }
  const times = rounds.filter((r) => !r.error).map((r) => r.ms).sort((a, b) => a - b);
  const pick = (q) => (times.length ? times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)] : null);
  const summary = {
    rounds: repeat,
    failures: rounds.filter((r) => r.error).length,
    p50: pick(0.5),
    p95: pick(0.95),
    worst: times.length ? times[times.length - 1] : null,
  };
  console.error(`join timing (${kase}${withFirefox ? ', firefox' : ''}): ${JSON.stringify(summary)}`);
  return { case: kase, repeat: true, summary, rounds, base: BASE_URL };
}, { timeoutMs: 60000 + Math.max(1, repeat) * 20000 });
