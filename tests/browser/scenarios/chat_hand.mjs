// A chat message from one appears at the two others; a raised hand is shown
// to all (tile badge, participant list, announcement).
import { joinAll, launch, scenario, sleep, uiState, uniqueRoom, waitInPage } from '../lib/harness.mjs';

await scenario(async () => {
  const browser = await launch();
  const people = [{ name: 'Hanna' }, { name: 'Ilse' }, { name: 'Jonas' }];
  await joinAll(browser, uniqueRoom('chat'), people);
  for (const p of people) {
    await waitInPage(p.page, () => window.kabineDebug.session.participants.size === 2, [], 10000);
  }
  const [hanna, ...others] = people;
  const text = 'Guten Tag <b>alle</b> – 🙂';
  await hanna.page.keyboard.press('c');
  await hanna.page.keyboard.type(text);
  await hanna.page.keyboard.press('Enter');
  for (const o of others) {
    await waitInPage(o.page, (t) => [...document.querySelectorAll('#chat-log li .text')].some((e) => e.textContent === t),
      [text], 5000).catch(() => {});
  }
  await hanna.page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await hanna.page.keyboard.press('r');
  for (const o of others) {
    await o.page.click('#ctl-people');
    await waitInPage(o.page, () => document.querySelector('.tile .badge.hand') !== null, [], 5000).catch(() => {});
  }
  await sleep(300);
  const ui = {};
  for (const p of people) ui[p.name] = await uiState(p.page);
  // Injected markup stays text.
  const injected = await others[0].page.evaluate(() => document.querySelectorAll('#chat-log b').length);
  return { text, ui, injected };
});
