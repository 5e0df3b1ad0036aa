// Two rooms at once: media, chat, hands and participant lists stay inside
// their room.
import { inbound, joinAll, launch, scenario, sleep, uiState, uniqueRoom, waitAllReceiving, waitInPage } from '../lib/harness.mjs';

await scenario(async () => {
  const browser = await launch();
  const roomA = [{ name: 'Alpha One' }, { name: 'Alpha Two' }];
  const roomB = [{ name: 'Beta One' }, { name: 'Beta Two' }];
  await Promise.all([joinAll(browser, uniqueRoom('alpha'), roomA), joinAll(browser, uniqueRoom('beta'), roomB)]);
  await Promise.all([waitAllReceiving(roomA, 10000), waitAllReceiving(roomB, 10000)]);
  for (const [group, text] of [[roomA, 'only for alpha'], [roomB, 'only for beta']]) {
    await group[0].page.keyboard.press('c');
    await group[0].page.keyboard.type(text);
    await group[0].page.keyboard.press('Enter');
    await waitInPage(group[1].page, (t) => [...document.querySelectorAll('#chat-log .text')].some((e) => e.textContent === t),
      [text], 5000);
  }
  await roomA[1].page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await roomA[1].page.keyboard.press('r');
  await sleep(2000);
  const seen = {};
  for (const p of [...roomA, ...roomB]) {
    const ui = await uiState(p.page);
    const media = await inbound(p.page);
    seen[p.name] = {
      names: ui.names,
      chat: ui.chat.map((c) => c.text),
      hands: ui.tiles.filter((t) => t.hand).map((t) => t.label),
      mediaFrom: [...new Set(media.tracks.filter((t) => t.packetsReceived > 0).map((t) => t.name))].sort(),
    };
  }
  return { seen };
});
