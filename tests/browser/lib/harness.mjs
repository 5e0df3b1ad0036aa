// Launches Debian's Chromium or Firefox ESR for Kabine's browser scenarios
// (flags and prefs as in TESTING.md: fake camera and microphone, loopback
// ICE, a fresh profile, the test server's self-signed certificate accepted),
// records every request each page makes, and prints a scenario's result as
// one JSON line that the Rust test reads (`RESULT {...}`).
//
// Environment: KABINE_URL (https://127.0.0.1:PORT), KABINE_OUT (directory
// for screenshots), KABINE_BROWSER (chromium | firefox, default chromium).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

export const BASE_URL = process.env.KABINE_URL ?? 'https://127.0.0.1:8443';
export const OUT_DIR = process.env.KABINE_OUT ?? path.resolve('target-test-output');

const CHROMIUM = process.env.KABINE_CHROMIUM ?? '/usr/bin/chromium';
const FIREFOX = process.env.KABINE_FIREFOX ?? '/usr/bin/firefox-esr';

/** Every browser launched, so `finish` and crashes close them all. */
const browsers = [];
/** Every request of every page: {page, url, type}. */
export const requests = [];
/** Console errors, page errors and CSP violations of every page. */
export const problems = [];
/**
 * Every WebSocket frame of every Chromium page: {page, dir: 'sent' | 'received', data}.
 * Save them with `saveFrames` (they are too many for the RESULT line).
 */
export const frames = [];

/** Writes `frames` to KABINE_OUT/frames.json; returns how many there were. */
export function saveFrames() {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  fs.writeFileSync(path.join(OUT_DIR, 'frames.json'), JSON.stringify(frames));
  return frames.length;
}

/**
 * Launches a browser with a fresh profile. Pages of Chromium get their
 * viewport from `newPage`; Firefox's pages are as large as its window
 * (`viewport`, default 1280×720): puppeteer's viewport emulation sends
 * WebDriver BiDi commands that some Firefox ESR versions do not know, so
 * the harness never uses it there.
 * @param {{engine?: 'chromium' | 'firefox', lang?: string, viewport?: {width: number, height: number},
 *   args?: string[], netns?: string}} [opts] `args`: more Chromium flags; `netns`: run Chromium
 *   in that network namespace (`ip netns exec`, as root), driven over a pipe since its
 *   loopback is not ours
 */
export async function launch(opts = {}) {
  const engine = opts.engine ?? process.env.KABINE_BROWSER ?? 'chromium';
  const lang = opts.lang ?? 'en-US';
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `kabine-${engine}-`));
  let browser;
  if (engine === 'firefox') {
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      protocol: 'webDriverBiDi',
      headless: true,
      defaultViewport: null,
      args: [`--width=${opts.viewport?.width ?? 1280}`, `--height=${opts.viewport?.height ?? 720}`],
      acceptInsecureCerts: true,
      userDataDir: profile,
      extraPrefsFirefox: {
        'media.navigator.streams.fake': true,
        'media.navigator.permission.disabled': true,
        'media.peerconnection.ice.loopback': true,
        'media.peerconnection.ice.obfuscate_host_addresses': false,
        'permissions.default.camera': 1,
        'permissions.default.microphone': 1,
        'media.autoplay.default': 0,
        'media.getdisplaymedia.enabled': true,
        'intl.accept_languages': lang,
        'intl.locale.requested': lang.split(',')[0],
        'network.captive-portal-service.enabled': false,
        'network.connectivity-service.enabled': false,
        'browser.safebrowsing.malware.enabled': false,
        'browser.safebrowsing.phishing.enabled': false,
        'app.update.enabled': false,
        'datareporting.policy.dataSubmissionEnabled': false,
        'toolkit.telemetry.enabled': false,
      },
    });
  } else {
    let executablePath = CHROMIUM;
    if (opts.netns) {
      if (!/^[A-Za-z0-9_-]+$/.test(opts.netns)) throw new Error(`bad namespace name ${opts.netns}`);
      executablePath = path.join(profile, 'chromium-in-netns.sh');
      fs.writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${opts.netns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    }
    browser = await puppeteer.launch({
      executablePath,
      pipe: Boolean(opts.netns),
      headless: true,
      acceptInsecureCerts: true,
      userDataDir: profile,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--allow-loopback-in-peer-connection',
        '--autoplay-policy=no-user-gesture-required',
        '--disable-features=WebRtcHideLocalIpsWithMdns',
        '--auto-select-desktop-capture-source=Entire screen',
        '--disable-renderer-backgrounding',
        '--disable-background-timer-throttling',
        '--disable-backgrounding-occluded-windows',
        `--lang=${lang.split(',')[0]}`,
        ...(opts.args ?? []),
        `--accept-lang=${lang}`,
        // For investigating connection losses: Chromium's own network log.
        ...(process.env.KABINE_NETLOG_DIR
          ? [`--log-net-log=${path.join(process.env.KABINE_NETLOG_DIR, `${Date.now()}-${process.pid}.json`)}`]
          : []),
      ],
    });
  }
  browser.kabineEngine = engine;
  browser.kabineProfile = profile;
  browsers.push(browser);
  return browser;
}

/**
 * A new page that records its requests and problems under `name`.
 * @param {import('puppeteer-core').Browser} browser
 * @param {string} name
 * @param {{width?: number, height?: number}} [viewport]
 */
export async function newPage(browser, name, viewport = {}) {
  const context = browser.kabineEngine === 'firefox' ? browser.defaultBrowserContext() : await browser.createBrowserContext();
  const page = await context.newPage();
  if (browser.kabineEngine === 'firefox') {
    // Sized by its window (see `launch`); a page asking for another size is a mistake of the scenario.
    if (viewport.width || viewport.height) throw new Error('Firefox pages take their size from launch({viewport})');
  } else {
    await page.setViewport({ width: viewport.width ?? 1280, height: viewport.height ?? 720 });
  }
  page.kabineName = name;
  // Other jobs on a shared test machine add and remove network interfaces;
  // Chromium then aborts a navigation with ERR_NETWORK_CHANGED. That is the
  // machine, not Kabine: navigate again (at most three times).
  const goto = page.goto.bind(page);
  page.goto = async (url, options) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await goto(url, options);
      } catch (e) {
        if (attempt > 3 || !String(e).includes('ERR_NETWORK_CHANGED')) throw e;
        await sleep(300);
      }
    }
  };
  page.on('request', (r) => {
    let type = 'other';
    try {
      type = r.resourceType();
    } catch {
      // WebDriver BiDi (Firefox) does not tell the resource type.
    }
    requests.push({ page: name, url: r.url(), type });
  });
  page.on('pageerror', (e) => problems.push({ page: name, kind: 'pageerror', text: String(e?.message ?? e) }));
  page.on('console', (m) => {
    // The client warns (`kabine: …`) only when something failed that
    // should not have, e.g. handling a server message: a problem too.
    const warned = (m.type() === 'warn' || m.type() === 'warning') && m.text().startsWith('kabine:');
    if (m.type() === 'error' || warned) problems.push({ page: name, kind: 'console', text: m.text() });
  });
  if (browser.kabineEngine !== 'firefox') {
    // WebSocket handshakes are not "requests" to puppeteer: record them from CDP.
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketCreated', (e) => requests.push({ page: name, url: e.url, type: 'websocket' }));
    cdp.on('Network.webSocketFrameSent', (e) => frames.push({ page: name, dir: 'sent', data: e.response.payloadData }));
    cdp.on('Network.webSocketFrameReceived', (e) =>
      frames.push({ page: name, dir: 'received', data: e.response.payloadData }));
  }
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return page;
}

/** Requests whose origin is not Kabine's own (data:, blob: and about: are local). */
export function foreignRequests(list = requests) {
  const own = new URL(BASE_URL).host;
  return list.filter((r) => {
    if (/^(data|blob|about):/.test(r.url)) return false;
    try {
      return new URL(r.url).host !== own;
    } catch {
      return true;
    }
  });
}

/**
 * Waits until `fn` (evaluated in the page) returns a truthy value.
 * @param {import('puppeteer-core').Page} page
 * @param {Function} fn
 * @param {any[]} args
 * @param {number} timeoutMs
 */
export async function waitInPage(page, fn, args = [], timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await page.evaluate(fn, ...args);
    if (last) return last;
    await sleep(200);
  }
  throw new Error(`${page.kabineName}: timed out after ${timeoutMs} ms waiting for ${fn.name || 'condition'}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Goes from the pre-join page of `room` into the call as `name`.
 * @param {import('puppeteer-core').Page} page
 * @param {string} room
 * @param {string} name
 */
export async function joinRoom(page, room, name, opts = {}) {
  await startJoin(page, room, name, opts);
  await waitJoined(page);
}

/**
 * What a page receives: per remote participant and source, the inbound-rtp
 * figures of the subscribe connection (mapped by mid).
 * @param {import('puppeteer-core').Page} page
 */
export async function inbound(page) {
  return page.evaluate(async () => {
    const s = window.kabineDebug?.session;
    if (!s || !s.sub) return { you: null, names: {}, tracks: [] };
    const names = {};
    for (const p of s.participants.values()) names[p.id] = p.display_name;
    const transceivers = s.sub.getTransceivers();
    const tracks = [];
    for (const t of s.remoteTracks.values()) {
      // A direct call's tracks carry their receiver; the server's are found by mid.
      const receiver = t.receiver ?? transceivers.find((x) => x.mid === t.mid)?.receiver;
      let st = {};
      if (receiver) {
        // The receiver's own report: works the same in Chromium and Firefox.
        const report = await receiver.getStats();
        report.forEach((x) => {
          // With several SSRCs (RTX, layer switches) keep the busiest.
          if (x.type === 'inbound-rtp' && (x.packetsReceived ?? 0) >= (st.packetsReceived ?? 0)) st = x;
        });
      }
      tracks.push({
        mid: t.mid,
        direct: t.mid.startsWith('direct-'),
        participant: t.participant,
        name: names[t.participant] ?? null,
        source: t.source,
        kind: t.track.kind,
        packetsReceived: st.packetsReceived ?? 0,
        bytesReceived: st.bytesReceived ?? 0,
        framesDecoded: st.framesDecoded ?? 0,
        // Why frames do not grow: none arrive, or they arrive and are not
        // decoded (a starved decoder), or no keyframe came (PLIs sent).
        framesReceived: st.framesReceived ?? 0,
        keyFramesDecoded: st.keyFramesDecoded ?? 0,
        pliCount: st.pliCount ?? 0,
        frameWidth: st.frameWidth ?? 0,
        frameHeight: st.frameHeight ?? 0,
        totalSamplesReceived: st.totalSamplesReceived ?? 0,
        audioLevel: st.audioLevel ?? 0,
      });
    }
    const shown = document.getElementById('call-mode')?.dataset.mode ?? null;
    return { you: s.you?.id ?? null, names, tracks, mode: s.mode ?? null, shown };
  });
}

/**
 * Whether `page` decodes video and receives audio from every name in `names`
 * (source `camera` by default).
 */
export async function receivesFrom(page, names, source = 'camera') {
  const st = await inbound(page);
  return names.every((n) => {
    const video = st.tracks.find((t) => t.name === n && t.source === source && t.kind === 'video');
    if (source !== 'camera') return video && video.framesDecoded > 0;
    const audio = st.tracks.find((t) => t.name === n && t.source === 'mic');
    return video && video.framesDecoded > 0 && audio && audio.packetsReceived > 0;
  });
}

/**
 * Waits until every page receives video and audio from every other page.
 * @param {{page: import('puppeteer-core').Page, name: string}[]} people
 * @param {number} timeoutMs
 * @returns {Promise<number>} milliseconds it took
 */
export async function waitAllReceiving(people, timeoutMs = 10000) {
  const start = Date.now();
  const end = start + timeoutMs;
  while (Date.now() < end) {
    const ok = await Promise.all(people.map((p) =>
      receivesFrom(p.page, people.filter((o) => o !== p).map((o) => o.name))));
    if (ok.every(Boolean)) return Date.now() - start;
    await sleep(250);
  }
  const detail = await Promise.all(people.map(async (p) => ({ name: p.name, inbound: await inbound(p.page) })));
  throw new Error(`not everyone received everyone within ${timeoutMs} ms: ${JSON.stringify(detail)}`);
}

/** Saves a screenshot under KABINE_OUT. */
export async function screenshot(page, file) {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const p = path.join(OUT_DIR, file);
  await page.screenshot({ path: p });
  return p;
}

/** Runs axe-core (WCAG 2.1 A and AA rules) in the page; returns the violations. */
export async function axe(page) {
  const source = fs.readFileSync(new URL('../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
  // Injected through the driver, not through a <script> element: the page's
  // CSP forbids inline scripts, and it should.
  await page.evaluate(source);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })) }));
  });
}

/** Closes every browser and removes its profile. */
export async function closeAll() {
  for (const b of browsers.splice(0)) {
    try {
      await b.close();
    } catch {
      // Already gone.
    }
    fs.rmSync(b.kabineProfile, { recursive: true, force: true });
  }
}

/**
 * Runs a scenario: prints `RESULT {json}` with what it returned (plus every
 * request and problem), or `RESULT {"error": ...}` when it threw. Always
 * closes the browsers. The process exits 0 either way; the Rust test judges.
 * @param {() => Promise<object>} body
 * @param {{timeoutMs?: number}} [opts] how long the scenario may take (default 120 s)
 */
export async function scenario(body, opts = {}) {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 120000;
  let result;
  process.on('uncaughtException', (e) => {
    console.log(`RESULT ${JSON.stringify({ ok: false, error: `uncaught: ${e?.stack ?? e}`, requests, problems })}`);
    closeAll().finally(() => process.exit(0));
  });
  const guard = setTimeout(() => {
    console.log(`RESULT ${JSON.stringify({ error: `scenario timed out after ${timeoutMs / 1000} s`, requests, problems })}`);
    closeAll().finally(() => process.exit(0));
  }, timeoutMs);
  try {
    result = { ok: true, ...(await body()) };
  } catch (e) {
    result = { ok: false, error: String(e?.stack ?? e) };
  }
  clearTimeout(guard);
  await closeAll();
  result.totalMs = Date.now() - started;
  result.requests = requests;
  result.foreign = foreignRequests();
  result.problems = problems;
  // Exit only once the line is out: stdout is a pipe, and a result over
  // 64 KiB would be cut off by an immediate exit.
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

/**
 * Opens a page per person (in `browser`, or `person.browser`) and joins them
 * all to `room` at once.
 * @param {import('puppeteer-core').Browser} browser
 * @param {string} room
 * @param {{name: string, browser?: any, viewport?: {width: number, height: number}, hash?: string}[]} people
 *   `hash`: the fragment of the link the person opens (an end-to-end encrypted meeting's key)
 */
export async function joinAll(browser, room, people) {
  for (const p of people) p.page = await newPage(p.browser ?? browser, p.name, p.viewport);
  await Promise.all(people.map((p) => joinRoom(p.page, room, p.name, { hash: p.hash })));
  return people;
}

/** A room name unique to this run. */
export function uniqueRoom(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** What a page's UI shows: tiles, playing videos, participant list, chat. */
export async function uiState(page) {
  return page.evaluate(() => ({
    tiles: [...document.querySelectorAll('.tile')].map((t) => ({
      label: t.getAttribute('aria-label'),
      source: t.dataset.source,
      playing: (t.querySelector('video')?.videoWidth ?? 0) > 0,
      hand: !!t.querySelector('.badge.hand'),
      speaking: t.classList.contains('speaking'),
    })),
    people: [...document.querySelectorAll('#people-list li')].map((li) => ({
      name: li.querySelector('.name')?.textContent,
      states: li.querySelector('.states')?.textContent,
    })),
    chat: [...document.querySelectorAll('#chat-log li')].map((li) => ({
      from: li.querySelector('.from')?.textContent,
      text: li.querySelector('.text')?.textContent,
    })),
    audios: [...document.querySelectorAll('audio')].filter((a) => a.srcObject && !a.paused).length,
    count: document.getElementById('participant-count')?.textContent,
    announced: [...document.querySelectorAll('#announce-polite p, #announce-assertive p')].map((p) => p.textContent),
    names: [...(window.kabineDebug?.session?.participants?.values() ?? [])].map((p) => p.display_name).sort(),
  }));
}

/**
 * Records, in the page, when each remote camera tile presents a frame
 * (requestVideoFrameCallback) and from which track, so that freezes and
 * black gaps across a switch of streams can be measured afterwards with
 * `frameGaps`. Tiles that appear later are picked up as they come.
 * @param {import('puppeteer-core').Page} page
 */
export async function watchFrames(page) {
  await page.evaluate(() => {
    if (window.kabineFrames) return;
    /** participant id -> [wall-clock ms (Date.now() scale), track id] of presented frames */
    window.kabineFrames = {};
    const origin = Date.now() - performance.now();
    const attach = () => {
      for (const v of document.querySelectorAll('.tile[data-source="camera"] video')) {
        const who = v.closest('.tile')?.dataset.participant;
        if (!who || who === 'self' || v.kabineWatched) continue;
        v.kabineWatched = true;
        const list = (window.kabineFrames[who] ??= []);
        const onFrame = (now) => {
          const track = v.srcObject instanceof MediaStream ? v.srcObject.getVideoTracks()[0]?.id ?? '' : '';
          list.push([origin + now, track]);
          if (v.isConnected) v.requestVideoFrameCallback(onFrame);
        };
        v.requestVideoFrameCallback(onFrame);
      }
    };
    attach();
    setInterval(attach, 100);
  });
}

/**
 * Per remote participant (by name), between `from` and `to` (Date.now()
 * ms): `maxGapMs`, the longest time without a new frame (from the first
 * frame on; a stream that stops counts until `to`), and `switches`, every
 * change of the track shown with `gapMs`, the longest time without a new
 * frame from the last frame of the old track to 2 s after the first frame
 * of the new one (the freeze or black a switch causes).
 * @param {import('puppeteer-core').Page} page
 * @param {number} from
 * @param {number} to
 */
export async function frameGaps(page, from, to) {
  return page.evaluate((from, to) => {
    const s = window.kabineDebug.session;
    const out = {};
    for (const [who, frames] of Object.entries(window.kabineFrames ?? {})) {
      const name = s.participants.get(who)?.display_name ?? who;
      const inside = frames.filter(([t]) => t >= from && t <= to);
      let maxGap = inside.length ? to - inside[inside.length - 1][0] : to - from;
      const long = [];
      const switches = [];
      for (let i = 1; i < inside.length; i++) {
        const gap = inside[i][0] - inside[i - 1][0];
        maxGap = Math.max(maxGap, gap);
        if (gap > 300) long.push([Math.round(inside[i - 1][0]), Math.round(gap)]);
        if (inside[i][1] !== inside[i - 1][1]) {
          let worst = gap;
          for (let k = i + 1; k < inside.length && inside[k][0] <= inside[i][0] + 2000; k++) {
            worst = Math.max(worst, inside[k][0] - inside[k - 1][0]);
          }
          switches.push({ at: Math.round(inside[i][0]), gapMs: Math.round(worst) });
        }
      }
      out[name] = { maxGapMs: Math.round(maxGap), frames: inside.length, long, switches };
    }
    return out;
  }, from, to);
}

/**
 * A summary of what a page's publish connection sends: per video
 * encoding (rid) packets, frames encoded, keyframes, PLIs received and
 * why quality is limited.
 * @param {import('puppeteer-core').Page} page
 */
export async function outbound(page) {
  return page.evaluate(async () => {
    const pc = window.kabineDebug?.session?.pub;
    if (!pc) return 'nothing (no publish connection)';
    const out = [];
    (await pc.getStats()).forEach((x) => {
      if (x.type === 'outbound-rtp' && x.kind === 'video') {
        out.push(`${x.rid ?? '-'}: packets ${x.packetsSent}, frames ${x.framesEncoded}, keyframes ${x.keyFramesEncoded}, PLIs ${x.pliCount}, limited ${x.qualityLimitationReason}, active ${x.active}`);
      }
    });
    return `[${out.join(' | ')}]`;
  });
}

/**
 * Waits until every page decodes new video frames and receives new audio
 * from every other page, all over the server (`via: 'server'`) or all over
 * the direct connection (`via: 'direct'`), and (for 'direct') the page says
 * so in its status. "New": more than when the wait began.
 * @param {{page: import('puppeteer-core').Page, name: string}[]} people
 * @param {'server' | 'direct'} via
 * @param {number} timeoutMs
 * @returns {Promise<number>} milliseconds it took
 */
export async function waitDecodingVia(people, via, timeoutMs, log = null) {
  const start = Date.now();
  const baseline = new Map();
  const key = (p, t) => `${p.name}/${t.mid}`;
  let last = null;
  while (Date.now() - start < timeoutMs) {
    const states = await Promise.all(people.map(async (p) => {
      const st = await inbound(p.page);
      return { p, st, mode: st.mode, shown: st.shown };
    }));
    let ok = true;
    for (const { p, st, mode, shown } of states) {
      for (const t of st.tracks) if (!baseline.has(key(p, t))) baseline.set(key(p, t), t.kind === 'video' ? t.framesDecoded : t.packetsReceived);
      if (mode !== via || shown !== via) ok = false;
      for (const o of people) {
        if (o === p) continue;
        const fresh = (kind, source) => st.tracks.some((t) => t.name === o.name && t.source === source && t.kind === kind
          && t.direct === (via === 'direct')
          && (kind === 'video' ? t.framesDecoded : t.packetsReceived) > baseline.get(key(p, t)) + (kind === 'video' ? 3 : 10));
        const v = fresh('video', 'camera');
        const a = fresh('audio', 'mic');
        if (log) {
          if (v) log[`${p.name} sees ${o.name}`] ??= Date.now() - start;
          if (a) log[`${p.name} hears ${o.name}`] ??= Date.now() - start;
        }
        if (!v || !a) ok = false;
      }
    }
    last = states.map(({ p, st, mode }) => ({ name: p.name, mode, tracks: st.tracks }));
    if (ok) return Date.now() - start;
    await sleep(150);
  }
  throw new Error(`not everyone decoded everyone via ${via} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

/** How each page's media travels now: the session's mode and what the status line shows. */
export async function modes(people) {
  return Promise.all(people.map(async (p) => p.page.evaluate(() => ({
    mode: window.kabineDebug.session.mode,
    text: document.getElementById('call-mode')?.textContent ?? null,
    hidden: document.getElementById('call-mode')?.hidden ?? null,
  }))));
}

/**
 * From the pre-join page of `room` to pressing "Join" as `name`, without
 * waiting for the call (the server may make the page wait first). Like a
 * person: the name is typed and "Join" pressed at once, whether or not the
 * camera preview has appeared yet (`waitForPreview` waits for it first).
 * @param {import('puppeteer-core').Page} page
 * @param {string} room
 * @param {string} name
 * @param {{waitForPreview?: boolean, hash?: string}} [opts] `hash`: the link's fragment, e.g. `#k=…`
 */
export async function startJoin(page, room, name, opts = {}) {
  await page.goto(`${BASE_URL}/${encodeURIComponent(room)}${opts.hash ?? ''}`, { waitUntil: 'load' });
  await page.waitForSelector('#display-name');
  await page.$eval('#display-name', (el) => { el.value = ''; });
  await page.type('#display-name', name);
  if (opts.waitForPreview) {
    await page.waitForFunction(() => {
      const v = document.querySelector('.preview-video');
      return v && !v.hidden && v.srcObject;
    }, { timeout: 10000 });
  }
  await page.click('#join-button');
}

/** Waits until the page's session has joined its room. */
export async function waitJoined(page, timeoutMs = 10000) {
  await page.waitForFunction(() => window.kabineDebug?.session?.state === 'joined', { timeout: timeoutMs });
}

/**
 * Counts the RTCPeerConnections a page creates (from before its scripts
 * run): `window.kabinePeerConnections`.
 * @param {import('puppeteer-core').Page} page
 */
export async function countPeerConnections(page) {
  await page.evaluateOnNewDocument(() => {
    const Original = window.RTCPeerConnection;
    window.kabinePeerConnections = 0;
    window.RTCPeerConnection = class extends Original {
      constructor(...args) {
        super(...args);
        window.kabinePeerConnections++;
      }
    };
  });
}

/** Clicks the element matching `selector` once it is there and visible. */
export async function clickWhenVisible(page, selector, timeoutMs = 10000) {
  await page.waitForSelector(selector, { visible: true, timeout: timeoutMs });
  await page.click(selector);
}

/**
 * Joins as a person does: opens the room's page (unless `navigate` is
 * false: the page is already on it), puts the name in and presses "Join"
 * the moment the button is there — before the camera preview has
 * appeared. Returns when the click happened (Date.now() ms).
 * @param {import('puppeteer-core').Page} page
 * @param {string} room
 * @param {string} name
 * @param {{navigate?: boolean}} [opts]
 */
export async function joinNow(page, room, name, opts = {}) {
  if (opts.navigate ?? true) await openRoom(page, room);
  return pressJoin(page, name);
}

/**
 * Opens the pre-join page of `room` and waits until "Join" can be pressed.
 * @param {import('puppeteer-core').Page} page
 * @param {string} room
 */
export async function openRoom(page, room) {
  await page.goto(`${BASE_URL}/${encodeURIComponent(room)}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#join-button');
}

/**
 * On a pre-join page: puts `name` in and presses "Join" at once. Returns
 * when the click happened (Date.now() ms).
 * @param {import('puppeteer-core').Page} page
 * @param {string} name
 */
export async function pressJoin(page, name) {
  await page.waitForSelector('#join-button');
  await page.$eval('#display-name', (el, n) => {
    el.value = n;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, name);
  const at = Date.now();
  await page.click('#join-button');
  return at;
}

/**
 * What a page shows of its own microphone and camera (the call's
 * controls), what it shows of everyone else's, and how often it connected
 * to the server (`generation` 1: never reconnected).
 * @param {import('puppeteer-core').Page} page
 */
export async function ownMedia(page) {
  return page.evaluate(() => {
    const s = window.kabineDebug?.session;
    const control = (id) => {
      const b = document.getElementById(id);
      return b ? { pressed: b.getAttribute('aria-pressed'), state: b.querySelector('.state')?.textContent ?? '' } : null;
    };
    const others = {};
    for (const p of s?.participants?.values() ?? []) others[p.display_name] = { mic: p.mic, camera: p.camera };
    return {
      state: s?.state ?? null,
      generation: s?.generation ?? null,
      mic: control('ctl-mic'),
      camera: control('ctl-camera'),
      sending: { mic: !!s?.micTrack && s.micOn, camera: !!s?.cameraTrack },
      others,
    };
  });
}

/**
 * Waits until every page decodes new video frames from every other page
 * and receives new audio packets from it ("new": more than at the sample
 * before; both growing between two samples), over any path. `expect.camera`
 * names people whose camera is known to be off (only their audio is
 * required). Returns the milliseconds since `from` (default: the start).
 * `log` gets, per "A sees B" and "A hears B", the milliseconds since `from`
 * when it first held. `audioSlots`: the server has fewer audio slots than
 * others in the call, so a page cannot hear everyone at once: audio must
 * grow on the page as a whole, not per person (the caller checks whom it
 * heard by other means).
 * @param {{page: import('puppeteer-core').Page, name: string}[]} people
 * @param {number} timeoutMs
 * @param {{from?: number, expect?: {camera?: Record<string, boolean>}, log?: Record<string, number>,
 *   audioSlots?: number}} [opts]
 */
export async function waitEveryoneFlowing(people, timeoutMs, opts = {}) {
  const from = opts.from ?? Date.now();
  const cameraOff = opts.expect?.camera ?? {};
  const end = Date.now() + timeoutMs;
  /** (page, other, kind) -> counter at the previous sample */
  let previous = new Map();
  let last = null;
  while (Date.now() < end) {
    const states = await Promise.all(people.map(async (p) => ({ p, st: await inbound(p.page) })));
    const now = new Map();
    let ok = true;
    const missing = [];
    for (const { p, st } of states) {
      if (opts.audioSlots && opts.audioSlots < people.length - 1) {
        const total = st.tracks.filter((t) => t.kind === 'audio').reduce((n, t) => n + (t.packetsReceived ?? 0), 0);
        now.set(`${p.name}/audio`, total);
        const grew = total > 0 && total > (previous.get(`${p.name}/audio`) ?? Infinity);
        if (!grew) missing.push(`${p.name} receives no audio (packets ${total})`);
        ok &&= grew;
      }
      for (const o of people) {
        if (o === p) continue;
        const best = (pred, field) => Math.max(0, ...st.tracks.filter(pred).map((t) => t[field]));
        const camera = (t) => t.name === o.name && t.source === 'camera' && t.kind === 'video';
        const frames = best(camera, 'framesDecoded');
        const audio = best((t) => t.name === o.name && t.source === 'mic', 'packetsReceived');
        now.set(`${p.name}/${o.name}/video`, frames);
        now.set(`${p.name}/${o.name}/audio`, audio);
        const grew = (kind, v) => v > 0 && v > (previous.get(`${p.name}/${o.name}/${kind}`) ?? Infinity);
        const videoOk = cameraOff[o.name] === false || grew('video', frames);
        const audioOk = (opts.audioSlots !== undefined && opts.audioSlots < people.length - 1) || grew('audio', audio);
        if (opts.log && grew('video', frames)) opts.log[`${p.name} sees ${o.name}`] ??= Date.now() - from;
        if (opts.log && audioOk) opts.log[`${p.name} hears ${o.name}`] ??= Date.now() - from;
        if (opts.log && best(camera, 'packetsReceived') > 0) opts.log[`${p.name} gets packets of ${o.name}`] ??= Date.now() - from;
        if (!videoOk) {
          const [packets, received, keyframes, plis] = ['packetsReceived', 'framesReceived', 'keyFramesDecoded', 'pliCount'].map((f) => best(camera, f));
          missing.push(`${p.name} does not see ${o.name} (frames ${frames}; packets ${packets}, frames received ${received}, keyframes decoded ${keyframes}, PLIs sent ${plis})`);
        }
        if (!audioOk) missing.push(`${p.name} does not hear ${o.name} (packets ${audio})`);
        ok &&= videoOk && audioOk;
      }
    }
    previous = now;
    last = { missing, states: states.map(({ p, st }) => ({ name: p.name, mode: st.mode, tracks: st.tracks })) };
    if (ok) return Date.now() - from;
    await sleep(250);
  }
  // What each page sends the server: the encoder starved, limited, or sending.
  const sent = await Promise.all(people.map(async (p) => `${p.name} sends ${await outbound(p.page)}`));
  const err = new Error(`not everyone saw and heard everyone within ${Date.now() - from} ms: ${last?.missing.join('; ')}; ${sent.join('; ')}`);
  err.detail = last?.states;
  throw err;
}
