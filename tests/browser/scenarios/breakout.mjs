// Breakout rooms in real browsers (issue 6): four participants; the
// moderator creates two rooms in the breakout dialog and splits everyone
// into pairs. In each room the two decode each other and receive nothing
// from the other pair; chat stays inside a room; everyone sees where they
// are; a message to all rooms reaches all four. Closing all rooms brings
// everyone back, and all four decode each other again.
import {
  axe, inbound, joinAll, launch, scenario, screenshot, sleep, uiState, uniqueRoom, waitAllReceiving, waitInPage,
} from '../lib/harness.mjs';

await scenario(async () => {
  const browser = await launch();
  const room = uniqueRoom('breakout');
  // Anna opens the room (and so moderates), the others follow.
  const [a] = await joinAll(browser, room, [{ name: 'Anna Leitung' }]);
  const [b, c, d] = await joinAll(browser, room, [{ name: 'Ben' }, { name: 'Clara' }, { name: 'David' }]);
  const everyone = [a, b, c, d];
  // Warnings (a failed renegotiation is one) explain a failure below.
  const warnings = [];
  for (const p of everyone) {
    p.page.on('console', (m) => {
      if (m.type() === 'warn' || m.type() === 'warning') warnings.push(`${p.name}: ${m.text()}`);
    });
  }
  const allMs = await waitAllReceiving(everyone, 15000);
  const idOf = (/** @type {any} */ p) => p.page.evaluate(() => window.kabineDebug.session.you.id);
  const ids = Object.fromEntries(await Promise.all(everyone.map(async (p) => [p.name, await idOf(p)])));

  await a.page.click('#ctl-people');
  await a.page.waitForSelector('#open-breakouts', { visible: true });
  await a.page.click('#open-breakouts');
  await a.page.waitForSelector('#breakout-create', { visible: true });
  await a.page.$eval('#breakout-count', (el) => { el.value = '2'; });
  await a.page.click('#breakout-create');
  await waitInPage(a.page, () => window.kabineDebug.session.breakouts.rooms.length === 2, [], 5000);
  await a.page.waitForSelector(`#breakout-for-${ids.Ben}`, { visible: true });
  const axeDialog = await axe(a.page);
  const plan = [[b, 'b1'], [c, 'b2'], [d, 'b2'], [a, 'b1']];
  for (const [p, room] of plan) {
    await a.page.select(`#breakout-for-${ids[p.name]}`, room);
    await waitInPage(p.page, (r) => window.kabineDebug.session.breakout?.id === r, [room], 5000);
  }
  await screenshot(a.page, 'breakout-dialog.png');
  await a.page.click('#breakout-done');
  const where = {};
  for (const p of everyone) {
    where[p.name] = await p.page.evaluate(() => ({
      badge: document.getElementById('breakout-badge')?.hidden ? null : document.getElementById('breakout-badge')?.textContent,
      names: [...window.kabineDebug.session.participants.values()].map((x) => x.display_name).sort(),
    }));
  }
  let pairMs;
  try {
    pairMs = Math.max(await waitAllReceiving([a, b], 15000), await waitAllReceiving([c, d], 15000));
  } catch (e) {
    throw new Error(`${e}; warnings: ${JSON.stringify(warnings)}; where: ${JSON.stringify(where)}`);
  }
  // Who each receives from now: the tracks whose packets grow over 1.5 s,
  // by whom they carry (an audio slot names its occupant: nobody's, null,
  // must not grow either).
  const before = {};
  for (const p of everyone) before[p.name] = await inbound(p.page);
  await sleep(1500);
  const mediaIn = {};
  for (const p of everyone) {
    const st = await inbound(p.page);
    const was = (t) => before[p.name].tracks.find((o) => o.mid === t.mid)?.packetsReceived ?? 0;
    mediaIn[p.name] = [...new Set(st.tracks.filter((t) => t.packetsReceived > was(t)).map((t) => t.name))].sort();
  }
  await screenshot(b.page, 'breakout-ben.png');
  const axeInBreakout = await axe(b.page);

  // Chat stays in its room; a message to all rooms reaches everyone.
  await b.page.evaluate(() => window.kabineDebug.session.sendChat('nur für Raum 1'));
  await waitInPage(a.page, () => [...document.querySelectorAll('#chat-log .text')].some((e) => e.textContent === 'nur für Raum 1'), [], 5000);
  await a.page.click('#open-breakouts');
  await a.page.waitForSelector('#breakout-message', { visible: true });
  await a.page.type('#breakout-message', 'Noch fünf Minuten');
  await a.page.click('#breakout-send');
  for (const p of everyone) {
    await waitInPage(p.page, () => [...document.querySelectorAll('#chat-log li.broadcast .text')]
      .some((e) => e.textContent === 'Noch fünf Minuten'), [], 5000);
  }
  const chats = {};
  for (const p of everyone) chats[p.name] = (await uiState(p.page)).chat.map((m) => m.text);

  // Close all rooms.
  await a.page.click('#breakout-close-all');
  for (const p of everyone) await waitInPage(p.page, () => window.kabineDebug.session.breakout === null, [], 5000);
  await a.page.click('#breakout-done');
  const backMs = await waitAllReceiving(everyone, 15000);
  // A private message, chosen in the chat's recipient list, reaches only its recipient.
  await b.page.keyboard.press('c');
  await b.page.waitForSelector('#chat-to', { visible: true });
  await b.page.select('#chat-to', ids.Clara);
  await b.page.type('#chat-input', 'nur für Clara');
  await b.page.keyboard.press('Enter');
  try {
    await waitInPage(c.page, () => [...document.querySelectorAll('#chat-log li.private .text')]
      .some((e) => e.textContent === 'nur für Clara'), [], 5000);
  } catch (e) {
    const tl = {};
    for (const p of everyone) tl[p.name] = await p.page.evaluate(() => window.kabineDebug.session.timeline);
    throw new Error(`${e}; timelines: ${JSON.stringify(tl)}`);
  }
  await sleep(500);
  const privateChat = {};
  for (const p of everyone) {
    privateChat[p.name] = await p.page.evaluate(() => [...document.querySelectorAll('#chat-log li.private')]
      .map((li) => `${li.querySelector('.note')?.textContent?.trim()} ${li.querySelector('.text')?.textContent}`));
  }
  const after = {};
  for (const p of everyone) {
    after[p.name] = await p.page.evaluate(() => ({
      badgeHidden: !!document.getElementById('breakout-badge')?.hidden,
      names: [...window.kabineDebug.session.participants.values()].map((x) => x.display_name).sort(),
    }));
  }
  return { privateChat, warnings, allMs, where, pairMs, mediaIn, chats, backMs, after, axe: { dialog: axeDialog, inBreakout: axeInBreakout } };
});
