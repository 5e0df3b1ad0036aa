// Moderation in real browsers (issue 6): the moderator turns the lobby on;
// a guest knocks and is admitted (and decodes the moderator's video), a
// second is denied (told so, and never had a peer connection); with a room
// password a third guest is refused with a wrong one and admitted with the
// right one. "Mute everyone" reaches the guests, "Remove" ends the third
// guest's participation, and when the moderator leaves the first guest
// becomes moderator and can act. Every WebSocket frame of every page is
// recorded for the wire check. Arguments: ROOM PASSWORD.
import {
  axe, clickWhenVisible, countPeerConnections, frames, joinRoom, launch, newPage, scenario, screenshot, startJoin,
  saveFrames, uiState, waitAllReceiving, waitInPage, waitJoined,
} from '../lib/harness.mjs';

const [room, password] = process.argv.slice(2);

await scenario(async () => {
  /** @type {any[]} */
  const people = [];
  try {
    return await run(people);
  } catch (e) {
    // What each page saw last: the frames explain most failures.
    const seen = {};
    for (const p of people) {
      seen[p.name] = {
        state: await p.page.evaluate(() => ({ state: window.kabineDebug?.session?.state,
          waitingFor: window.kabineDebug?.session?.waitingFor, h1: document.querySelector('h1')?.textContent }))
          .catch(() => null),
        frames: frames.filter((f) => f.page === p.page.kabineName).slice(-12).map((f) => `${f.dir} ${f.data.slice(0, 120)}`),
      };
    }
    throw new Error(`${e?.stack ?? e}\nlast seen: ${JSON.stringify(seen, null, 1)}`);
  }
});

/** @param {any[]} people */
async function run(people) {
  const browser = await launch();
  const mod = { name: 'Maria Moderation', page: await newPage(browser, 'moderator') };
  const g1 = { name: 'Gina Gast', page: await newPage(browser, 'guest1') };
  const g2 = { name: 'Dieter Draußen', page: await newPage(browser, 'guest2') };
  const g3 = { name: 'Paula Passwort', page: await newPage(browser, 'guest3') };
  people.push(mod, g1, g2, g3);
  await countPeerConnections(g2.page);

  const session = (/** @type {any} */ p) => p.page.evaluate(() => {
    const s = window.kabineDebug?.session;
    return s && { you: s.you, waitingFor: s.waitingFor, roomState: s.roomState, micOn: s.micOn,
      forced: [...s.forced], names: [...s.participants.values()].map((p) => p.display_name).sort() };
  });

  await joinRoom(mod.page, room, mod.name);
  const modIsModerator = (await session(mod)).you.moderator;
  await mod.page.click('#ctl-people');
  await clickWhenVisible(mod.page, '#lobby-switch');
  await waitInPage(mod.page, () => window.kabineDebug.session.roomState.lobby, [], 5000);

  // Knock, admit.
  await startJoin(g1.page, room, g1.name);
  await waitInPage(g1.page, () => window.kabineDebug.session.waitingFor === 'lobby', [], 10000);
  const lobbyPage = await g1.page.evaluate(() => document.getElementById('gate-title')?.textContent);
  await mod.page.waitForSelector('#lobby-list li[data-knocker]', { visible: true, timeout: 10000 });
  const knock = await mod.page.evaluate(() => ({
    list: [...document.querySelectorAll('#lobby-list li .name')].map((e) => e.textContent),
    announced: [...document.querySelectorAll('#announce-assertive p')].map((p) => p.textContent),
    button: document.getElementById('knock-button')?.textContent,
  }));
  await screenshot(mod.page, 'moderator-lobby.png');
  const axeModerator = await axe(mod.page);
  await mod.page.click('#lobby-list li button.admit');
  await waitJoined(g1.page);
  const admittedMs = await waitAllReceiving([mod, g1], 15000);

  // Knock, deny.
  await startJoin(g2.page, room, g2.name);
  await waitInPage(g2.page, () => window.kabineDebug.session.waitingFor === 'lobby', [], 10000);
  await mod.page.waitForFunction((n) => [...document.querySelectorAll('#lobby-list li .name')]
    .some((e) => e.textContent === n), { timeout: 10000 }, g2.name);
  await mod.page.click('#lobby-list li button.deny');
  await g2.page.waitForFunction(() => document.querySelector('h1')?.textContent === 'You were not let in', { timeout: 10000 });
  const denied = await g2.page.evaluate(() => ({
    heading: document.querySelector('h1')?.textContent,
    text: document.querySelector('.ended p')?.textContent,
    peerConnections: window.kabinePeerConnections,
    rejoinOffered: !!document.querySelector('.ended .row button.primary')?.textContent?.includes('again'),
  }));

  // Lobby off, password on (through the dialog).
  await mod.page.click('#lobby-switch');
  await waitInPage(mod.page, () => !window.kabineDebug.session.roomState.lobby, [], 5000);
  await mod.page.click('#open-password');
  await mod.page.waitForSelector('#set-room-password', { visible: true });
  const axePasswordDialog = await axe(mod.page);
  await mod.page.type('#set-room-password', password);
  await mod.page.click('#set-room-password-submit');
  await waitInPage(g1.page, () => window.kabineDebug.session.roomState.locked, [], 5000);
  const lockedBadge = await g1.page.evaluate(() => !document.getElementById('locked-badge')?.hidden);

  await startJoin(g3.page, room, g3.name);
  await waitInPage(g3.page, () => window.kabineDebug.session.waitingFor === 'password', [], 10000);
  await g3.page.waitForSelector('#room-password', { visible: true });
  const passwordFocused = await g3.page.evaluate(() => document.activeElement?.id);
  const axePasswordPage = await axe(g3.page);
  await g3.page.type('#room-password', 'Sesam öffne dich');
  await g3.page.click('#password-submit');
  const wrongPassword = await waitInPage(g3.page, () => document.getElementById('password-error')?.textContent, [], 10000);
  await screenshot(g3.page, 'password-wrong.png');
  await g3.page.type('#room-password', password);
  await g3.page.click('#password-submit');
  await waitJoined(g3.page);
  await waitAllReceiving([mod, g1, g3], 15000);

  // Mute everyone.
  await mod.page.click('#mute-all');
  for (const g of [g1, g3]) {
    await waitInPage(g.page, () => window.kabineDebug.session.forced.has('mic') && !window.kabineDebug.session.micOn, [], 5000);
  }
  const afterMute = {
    guest1: await session(g1),
    guest1Button: await g1.page.evaluate(() => document.getElementById('ctl-mic')?.getAttribute('aria-pressed')),
    guest1Toast: await g1.page.evaluate(() => document.getElementById('toast')?.textContent),
    guest3: await session(g3),
    moderatorSees: await mod.page.evaluate(() => [...window.kabineDebug.session.participants.values()]
      .map((p) => ({ name: p.display_name, mic: p.mic }))),
  };

  // Ask the first guest to turn the microphone on again; the guest agrees.
  const g1id = (await session(g1)).you.id;
  await mod.page.click(`[data-menu="p-${g1id}"]`);
  await mod.page.waitForSelector('#participant-menu', { visible: true });
  await mod.page.evaluate(() => [...document.querySelectorAll('#participant-menu [role="menuitem"]')]
    .find((b) => b.textContent === 'Ask to turn on the microphone')?.click());
  await g1.page.waitForSelector('#unmute-dialog[open]', { timeout: 5000 });
  const unmuteRequest = await g1.page.evaluate(() => ({
    title: document.getElementById('unmute-dialog-title')?.textContent,
    text: document.getElementById('unmute-text')?.textContent,
    focused: document.activeElement?.id,
  }));
  const axeUnmute = await axe(g1.page);
  await g1.page.click('#unmute-accept');
  await waitInPage(mod.page, (n) => [...window.kabineDebug.session.participants.values()]
    .some((p) => p.display_name === n && p.mic), [g1.name], 5000);
  const afterUnmute = await session(g1);

  // Remove the third guest through the participant's menu.
  const g3id = (await session(g3)).you.id;
  await mod.page.click(`[data-menu="p-${g3id}"]`);
  await mod.page.waitForSelector('#participant-menu', { visible: true });
  const menu = await mod.page.evaluate(() => ({
    items: [...document.querySelectorAll('#participant-menu [role="menuitem"]')].map((b) => b.textContent),
    focused: document.activeElement?.getAttribute('role'),
  }));
  await screenshot(mod.page, 'moderator-menu.png');
  const axeMenu = await axe(mod.page);
  await mod.page.keyboard.press('End');
  const chosen = await mod.page.evaluate(() => document.activeElement?.textContent);
  if (chosen !== 'Remove from the meeting') throw new Error(`End focused ${chosen}`);
  await mod.page.keyboard.press('Enter');
  await mod.page.waitForSelector('#remove-confirm', { visible: true, timeout: 5000 });
  const confirmFocused = await mod.page.evaluate(() => document.activeElement?.id);
  await mod.page.click('#remove-confirm');
  await g3.page.waitForFunction(() => document.querySelector('h1')?.textContent === 'You were removed from the meeting',
    { timeout: 10000 });
  await waitInPage(g1.page, (n) => ![...window.kabineDebug.session.participants.values()].some((p) => p.display_name === n),
    [g3.name], 5000);
  const afterRemove = { guest1: await session(g1), guest3Heading: await g3.page.evaluate(() => document.querySelector('h1')?.textContent) };

  // Handover.
  await mod.page.click('#ctl-leave');
  await waitInPage(g1.page, () => window.kabineDebug.session.you?.moderator, [], 10000);
  await g1.page.click('#ctl-people');
  await clickWhenVisible(g1.page, '#lobby-switch');
  await waitInPage(g1.page, () => window.kabineDebug.session.roomState.lobby, [], 5000);
  const handover = { ui: await uiState(g1.page), announced: (await uiState(g1.page)).announced };
  await screenshot(g1.page, 'new-moderator.png');

  // The new moderator ends the meeting, after a confirmation.
  await g1.page.click('#end-meeting');
  await g1.page.waitForSelector('#end-confirm', { visible: true });
  const axeEnd = await axe(g1.page);
  await g1.page.click('#end-confirm');
  await g1.page.waitForFunction(() => document.querySelector('h1')?.textContent === 'The meeting has ended', { timeout: 10000 });

  return {
    modIsModerator, lobbyPage, knock, admittedMs, denied, lockedBadge, passwordFocused, wrongPassword, afterMute,
    unmuteRequest, afterUnmute, menu, confirmFocused, afterRemove, handover,
    axe: { moderator: axeModerator, passwordDialog: axePasswordDialog, passwordPage: axePasswordPage, menu: axeMenu,
      unmute: axeUnmute, end: axeEnd },
    frames: saveFrames(),
  };
}
