// A full room is explained in words, in the user's language, with a way on
// (try again, start page); the person already in the room is unaffected.
// Usage: room_full.mjs [accept-languages]
import { joinAll, joinRoom, launch, newPage, scenario, sleep, uiState, uniqueRoom, axe } from '../lib/harness.mjs';

const lang = process.argv[2] ?? 'en-US,en';

await scenario(async () => {
  const browser = await launch({ lang });
  const room = uniqueRoom('full');
  const [first] = await joinAll(browser, room, [{ name: 'Inside' }]);
  const late = await newPage(browser, 'Late');
  await joinRoom(late, room, 'Late').catch(() => {});
  await late.waitForSelector('.ended', { timeout: 10000 });
  await sleep(300);
  const page = await late.evaluate(() => ({
    lang: document.documentElement.lang,
    h1: document.querySelector('h1')?.textContent,
    focused: document.activeElement?.tagName,
    text: document.querySelector('.ended p')?.textContent,
    buttons: [...document.querySelectorAll('.ended button')].map((b) => b.textContent),
    state: window.kabineDebug.session.state,
  }));
  const axeFull = await axe(late);
  const inside = await uiState(first.page);
  const insideState = await first.page.evaluate(() => window.kabineDebug.session.state);
  return { page, axe: axeFull, inside, insideState };
});
