// Access mode `secure` (issue 5): a guest opens the room first and waits;
// the host logs in on the pre-join page ("I am the host") and opens it;
// the meeting starts with its lobby on (issue 14), so the guest now waits
// to be let in and the host admits them from the lobby list; the guest
// joins without reloading, and both decode each other's video.
// Then the host changes the password on the account page (wrong current
// password, a weak new one, two that differ, then success), logs out, and
// only the new password logs in, and joins another room with "Join"
// pressed before the page knew who is logged in.
// Arguments: ROOM USER PASSWORD NEW_PASSWORD.
import {
  axe, clickWhenVisible, launch, newPage, scenario, screenshot, startJoin, waitAllReceiving, waitInPage, waitJoined,
} from '../lib/harness.mjs';

const [room, user, password, newPassword] = process.argv.slice(2);

await scenario(async () => {
  const browser = await launch();
  const guest = { name: 'Gustav Gast', page: await newPage(browser, 'guest') };
  const host = { name: 'Dr. Anna Müller', page: await newPage(browser, 'host') };

  // The guest comes first and waits.
  await startJoin(guest.page, room, guest.name);
  await waitInPage(guest.page, () => window.kabineDebug?.session?.waitingFor === 'host'
    && !document.getElementById('gate')?.hidden, [], 10000);
  // A marker in the page: it must survive until the guest is in (no reload).
  await guest.page.evaluate(() => { window.kabineMarker = 'same page'; });
  const waitingPage = await guest.page.evaluate(() => ({
    heading: document.getElementById('gate-title')?.textContent,
    focused: document.activeElement?.id,
  }));
  await screenshot(guest.page, 'guest-waiting.png');
  const axeWaiting = await axe(guest.page);

  // The host logs in from the pre-join page.
  await host.page.goto(`${process.env.KABINE_URL}/${encodeURIComponent(room)}`, { waitUntil: 'load' });
  await clickWhenVisible(host.page, '#host-login-toggle');
  await host.page.waitForSelector('#host-login-username', { visible: true });
  const axeLogin = await axe(host.page);
  await host.page.type('#host-login-username', user);
  await host.page.type('#host-login-password', 'not the password');
  await host.page.click('#host-login-submit');
  const wrong = await waitInPage(host.page, () => document.getElementById('host-login-problem')?.textContent, [], 10000);
  await host.page.$eval('#host-login-password', (el) => { el.value = ''; });
  await host.page.type('#host-login-password', password);
  await host.page.click('#host-login-submit');
  await host.page.waitForSelector('#logged-in', { visible: true, timeout: 10000 });
  const prejoin = await host.page.evaluate(() => ({
    name: /** @type {HTMLInputElement} */ (document.getElementById('display-name')).value,
    readOnly: /** @type {HTMLInputElement} */ (document.getElementById('display-name')).readOnly,
    who: document.getElementById('logged-in')?.textContent,
  }));
  await screenshot(host.page, 'host-logged-in.png');
  const axeLoggedIn = await axe(host.page);
  await host.page.waitForFunction(() => {
    const v = document.querySelector('.preview-video');
    return v && !v.hidden && v.srcObject;
  }, { timeout: 10000 });
  await host.page.click('#join-button');
  await waitJoined(host.page);

  // The guest knocks (same page, now "waiting to be let in"); the host sees
  // them in the lobby list and admits them.
  await waitInPage(guest.page, () => window.kabineDebug?.session?.waitingFor === 'lobby', [], 10000);
  const lobbyPage = await guest.page.evaluate(() => document.getElementById('gate-title')?.textContent);
  await host.page.click('#ctl-people');
  await host.page.waitForSelector('#lobby-list li[data-knocker]', { visible: true, timeout: 10000 });
  const hostLobby = await host.page.evaluate(() => ({
    list: [...document.querySelectorAll('#lobby-list li .name')].map((e) => e.textContent),
    lobbyOn: window.kabineDebug.session.roomState.lobby,
    guestInCall: [...window.kabineDebug.session.participants.values()].length,
  }));
  await host.page.click('#lobby-list li button.admit');
  await waitJoined(guest.page, 10000);
  const marker = await guest.page.evaluate(() => window.kabineMarker);
  const ms = await waitAllReceiving([guest, host], 15000);
  const roles = {
    host: await host.page.evaluate(() => window.kabineDebug.session.you),
    guestSees: await guest.page.evaluate(() => [...window.kabineDebug.session.participants.values()]),
  };
  // Video tiles: the host's carries the staff badge (also in its accessible
  // name), a guest's does not — seen from both pages.
  const tilesOf = (/** @type {import('puppeteer-core').Page} */ page) => page.evaluate(() =>
    [...document.querySelectorAll('figure.tile.camera')].map((tile) => ({
      self: /** @type {HTMLElement} */ (tile).dataset.participant === 'self',
      name: tile.querySelector('figcaption .name')?.textContent,
      label: tile.getAttribute('aria-label'),
      badge: tile.querySelector('figcaption .staff-badge')?.textContent ?? null,
      badgeHint: tile.querySelector('figcaption .staff-badge')?.getAttribute('title') ?? null,
    })).sort((a, b) => Number(a.self) - Number(b.self)));
  const tiles = { guestSees: await tilesOf(guest.page), hostSees: await tilesOf(host.page) };
  await screenshot(guest.page, 'guest-in-call.png');
  const axeInCall = await axe(guest.page);

  // The account page.
  const page = host.page;
  await page.goto(`${process.env.KABINE_URL}/account`, { waitUntil: 'load' });
  await page.waitForSelector('#current-password', { visible: true, timeout: 10000 });
  const axeAccount = await axe(page);
  /** Fills the form, submits, and returns the visible messages. */
  const attempt = async (/** @type {string} */ current, /** @type {string} */ fresh, /** @type {string} */ again) => {
    for (const [id, value] of [['current-password', current], ['new-password', fresh], ['repeat-password', again]]) {
      await page.$eval(`#${id}`, (el) => { el.value = ''; });
      await page.type(`#${id}`, value);
    }
    await page.evaluate(() => {
      for (const id of ['current-password-error', 'new-password-error', 'repeat-password-error', 'password-done']) {
        const el = document.getElementById(id);
        if (el) el.textContent = '';
      }
    });
    await page.click('#change-password');
    return waitInPage(page, () => {
      const texts = ['current-password-error', 'new-password-error', 'repeat-password-error', 'password-problem', 'password-done']
        .map((id) => [id, document.getElementById(id)?.textContent ?? '']).filter(([, v]) => v);
      return texts.length ? Object.fromEntries(texts) : null;
    }, [], 10000);
  };
  const account = {
    wrongCurrent: await attempt('not it at all', newPassword, newPassword),
    weak: await attempt(password, 'password123', 'password123'),
    differ: await attempt(password, newPassword, `${newPassword}!`),
    done: await attempt(password, newPassword, newPassword),
  };
  await screenshot(page, 'account-changed.png');
  await page.click('#account-logout');
  await page.waitForSelector('#account-login-username', { visible: true, timeout: 10000 });
  const login = async (/** @type {string} */ pw) => {
    await page.$eval('#account-login-username', (el) => { el.value = ''; });
    await page.type('#account-login-username', user);
    await page.type('#account-login-password', pw);
    await page.click('#account-login-submit');
    return waitInPage(page, () => (document.getElementById('current-password') ? 'logged in'
      : document.getElementById('account-login-problem')?.textContent), [], 10000);
  };
  account.oldPassword = await login(password);
  account.newPassword = await login(newPassword);

  // "Join" pressed before the page knows who is logged in (the answer to
  // /api/session held back 1.5 s): the join waits for it and the host
  // enters with the account's name, not a "name required" error.
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (request.isInterceptResolutionHandled()) return;
    if (new URL(request.url()).pathname === '/api/session') setTimeout(() => request.continue(), 1500);
    else request.continue();
  });
  await page.goto(`${process.env.KABINE_URL}/${encodeURIComponent(`${room}-early`)}`, { waitUntil: 'load' });
  await page.waitForSelector('#join-button', { visible: true });
  const knownAtClick = await page.evaluate(() => !!document.getElementById('logged-in'));
  await page.click('#join-button');
  await waitJoined(page, 10000);
  const you = await page.evaluate(() => window.kabineDebug.session.you);
  const early = { knownAtClick, name: you?.display_name, moderator: you?.moderator };
  return { waitingPage, wrong, prejoin, lobbyPage, hostLobby, marker, ms, roles, tiles, account, early,
    axe: { waiting: axeWaiting, login: axeLogin, loggedIn: axeLoggedIn, inCall: axeInCall, account: axeAccount } };
});
