// The UI speaks the browser's language (German or English), or the
// operator's default when the browser prefers neither.
// Usage: language.mjs <accept-languages> [engine]
import { BASE_URL, axe, joinRoom, launch, newPage, scenario, screenshot, sleep } from '../lib/harness.mjs';

const lang = process.argv[2] ?? 'de-DE,de';
const engine = process.argv[3] ?? 'chromium';
const tag = lang.split(',')[0].toLowerCase();

await scenario(async () => {
  const browser = await launch({ engine, lang });
  const page = await newPage(browser, `visitor-${tag}`);
  const texts = async () => page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    h1: document.querySelector('h1')?.textContent ?? '',
    buttons: [...document.querySelectorAll('button')].map((b) => b.textContent?.trim()).filter(Boolean),
    labels: [...document.querySelectorAll('label')].map((l) => l.textContent?.trim()),
    skip: document.querySelector('.skip-link')?.textContent,
  }));
  await page.goto(`${BASE_URL}/`, { waitUntil: 'load' });
  await page.waitForSelector('#room-name');
  const navigatorLanguages = await page.evaluate(() => [...navigator.languages]);
  const welcome = await texts();
  await screenshot(page, `welcome-${tag}.png`);
  const room = `sprache-${Date.now()}`;
  await page.goto(`${BASE_URL}/${room}`, { waitUntil: 'load' });
  await page.waitForSelector('#display-name');
  await sleep(800);
  const prejoin = await texts();
  await screenshot(page, `prejoin-${tag}.png`);
  await joinRoom(page, room, 'Grete Müller').catch(() => {});
  await page.waitForSelector('#ctl-mic');
  await sleep(800);
  const call = await texts();
  call.axe = await axe(page);
  await screenshot(page, `call-${tag}.png`);
  return { navigatorLanguages, welcome, prejoin, call };
});
