// The three pages a person sees — welcome, pre-join, in the call — work
// with the keyboard, manage focus, have no axe-core violations at WCAG 2.1
// AA, and remember the name and device choice in this browser only.
import { BASE_URL, axe, launch, newPage, scenario, screenshot, sleep } from '../lib/harness.mjs';

/**
 * Tabs through the page; reports each stop, whether focus got stuck, and
 * stops without a visible focus indicator.
 */
async function tabWalk(page, steps = 30) {
  const stops = [];
  for (let i = 0; i < steps; i++) {
    await page.keyboard.press('Tab');
    stops.push(await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return { id: 'body', visible: true };
      const cs = getComputedStyle(el);
      const visible = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2;
      const desc = el.id || el.getAttribute('aria-label') || el.textContent?.trim().slice(0, 30) || el.tagName;
      return { id: `${el.tagName.toLowerCase()}:${desc}`, visible };
    }));
  }
  let stuck = 0;
  for (let i = 1; i < stops.length; i++) if (stops[i].id === stops[i - 1].id && stops[i].id !== 'body') stuck++;
  return {
    distinct: new Set(stops.map((s) => s.id)).size,
    stuck,
    invisible: stops.filter((s) => !s.visible).map((s) => s.id),
  };
}

await scenario(async () => {
  const browser = await launch();
  const page = await newPage(browser, 'visitor');
  const r = {};

  // axe-core itself must find violations where there are some.
  const probe = await newPage(browser, 'probe');
  await probe.setContent('<html lang="en"><head><title>t</title></head><body><main><img src="data:,"><button></button></main></body></html>');
  r.axeSelfTest = (await axe(probe)).map((v) => v.id);
  await probe.close();

  // Welcome page.
  await page.goto(`${BASE_URL}/`, { waitUntil: 'load' });
  await page.waitForSelector('#room-name');
  r.welcome = {
    lang: await page.evaluate(() => document.documentElement.lang),
    title: await page.title(),
    h1: await page.$eval('h1', (e) => e.textContent),
    imprint: await page.$$eval('footer a', (as) => as.map((a) => [a.textContent, a.href])),
    axe: await axe(page),
    tab: await tabWalk(page, 12),
  };
  await screenshot(page, 'welcome.png');
  // A name that is not allowed: an error in words, the field marked invalid.
  await page.type('#room-name', '.hidden/room');
  await page.keyboard.press('Enter');
  r.welcome.invalid = await page.evaluate(() => ({
    error: document.getElementById('room-error')?.textContent,
    ariaInvalid: document.getElementById('room-name')?.getAttribute('aria-invalid'),
    path: location.pathname,
  }));
  // Generate a name and continue with the keyboard.
  await page.click('.welcome-form button.secondary');
  r.welcome.generated = await page.$eval('#room-name', (e) => e.value);
  await page.focus('#room-name');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#display-name');

  // Pre-join page.
  await page.waitForFunction(() => document.querySelector('#camera-select option')?.value, { timeout: 10000 });
  await sleep(300);
  r.prejoin = {
    path: await page.evaluate(() => location.pathname),
    focused: await page.evaluate(() => document.activeElement?.tagName),
    title: await page.title(),
    cameras: await page.$$eval('#camera-select option', (o) => o.map((x) => x.textContent)),
    mics: await page.$$eval('#mic-select option', (o) => o.map((x) => x.textContent)),
    preview: await page.evaluate(() => {
      const v = document.querySelector('.preview-video');
      return !!(v && !v.hidden && v.srcObject && v.srcObject.getVideoTracks()[0]?.readyState === 'live');
    }),
    axe: await axe(page),
    tab: await tabWalk(page, 14),
  };
  await screenshot(page, 'prejoin.png');
  // Camera off in the preview: the track stops (the camera light goes out).
  await page.click('#prejoin-camera');
  r.prejoin.cameraOff = await page.evaluate(() => ({
    pressed: document.getElementById('prejoin-camera')?.getAttribute('aria-pressed'),
    previewHidden: document.querySelector('.preview-video')?.hidden,
  }));
  await page.click('#prejoin-camera');
  await page.waitForFunction(() => !document.querySelector('.preview-video')?.hidden);
  // Joining without a name is refused with a message.
  await page.click('#join-button');
  r.prejoin.nameError = await page.evaluate(() => ({
    text: document.getElementById('name-error')?.textContent,
    focused: document.activeElement?.id,
  }));
  await page.type('#display-name', 'Ada Lovelace');
  await page.click('#join-button');

  // In the call (alone).
  await page.waitForSelector('#ctl-mic');
  await sleep(1500);
  r.call = {
    focused: await page.evaluate(() => document.activeElement?.tagName),
    controls: await page.$$eval('.toolbar button', (bs) => bs.map((b) => ({
      id: b.id, name: b.getAttribute('aria-label') ?? b.querySelector('.label')?.textContent,
      pressed: b.getAttribute('aria-pressed') }))),
    stored: await page.evaluate(() => localStorage.getItem('kabine.prefs.v1')),
    axe: await axe(page),
    tab: await tabWalk(page, 16),
  };
  await screenshot(page, 'call-alone.png');
  // Touch targets: every control at least 44×44 CSS pixels, also on a tablet.
  const targets = () => page.$$eval('button, a, select, input, textarea', (els) => els
    .filter((e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'
      && !e.classList.contains('skip-link') && !e.closest('footer'))
    .map((e) => { const r = e.getBoundingClientRect(); return { id: e.id || e.className || e.tagName, w: r.width, h: r.height }; })
    .filter((r) => r.w < 44 || r.h < 44));
  r.call.smallTargets = await targets();
  await page.setViewport({ width: 820, height: 1180 });
  await sleep(500);
  r.call.smallTargetsTablet = await targets();
  await screenshot(page, 'call-tablet.png');
  r.call.axeTablet = await axe(page);
  await page.setViewport({ width: 1280, height: 720 });
  await sleep(300);
  // The help dialog is reachable by "?" and closes with Escape, giving focus back.
  await page.keyboard.press('?');
  await sleep(100);
  r.call.help = await page.evaluate(() => ({ open: document.getElementById('help-dialog')?.open,
    focusInside: !!document.activeElement?.closest('dialog') }));
  r.call.helpAxe = await axe(page);
  await page.keyboard.press('Escape');
  await sleep(100);
  r.call.helpClosed = await page.evaluate(() => !document.getElementById('help-dialog')?.open);

  // Leave, then the pre-join page remembers the name (from localStorage only).
  await page.click('#ctl-leave');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent && !document.querySelector('#ctl-mic'));
  r.left = { h1: await page.$eval('h1', (e) => e.textContent), axe: await axe(page) };
  await page.click('.ended button.primary');
  await page.waitForSelector('#display-name');
  r.remembered = await page.$eval('#display-name', (e) => e.value);
  return r;
});
