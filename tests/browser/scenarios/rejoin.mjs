// After everyone leaves, joining the same room name again starts a fresh
// room: no old chat, no old participants.
// Usage: rejoin.mjs <room> meet   — two join, chat, both leave
//        rejoin.mjs <room> again  — one joins the same room name again
import { joinAll, launch, scenario, sleep, uiState, waitInPage } from '../lib/harness.mjs';

const room = process.argv[2];
const phase = process.argv[3];

await scenario(async () => {
  const browser = await launch();
  if (phase === 'meet') {
    const people = [{ name: 'First' }, { name: 'Second' }];
    await joinAll(browser, room, people);
    await waitInPage(people[0].page, () => window.kabineDebug.session.participants.size === 1, [], 10000);
    const secret = 'the old secret message';
    await people[0].page.keyboard.press('c');
    await people[0].page.keyboard.type(secret);
    await people[0].page.keyboard.press('Enter');
    await waitInPage(people[1].page, (t) => document.querySelector('#chat-log .text')?.textContent === t, [secret], 5000);
    const before = await uiState(people[1].page);
    for (const p of people) {
      await p.page.click('#ctl-leave');
      await p.page.waitForSelector('.ended');
    }
    const left = await people[0].page.evaluate(() => window.kabineDebug.session.state);
    return { before, left };
  }
  const [p] = await joinAll(browser, room, [{ name: 'First' }]);
  await sleep(2000);
  const after = await uiState(p.page);
  return { after };
});
