// Teletherapy (issue 19, docs/teletherapy.md) in real browsers: a therapist
// logs in on /sessions (German), creates a group session with 3 patient
// links, adds links up to the limit (the next one is refused) and
// withdraws one; its QR code decodes (jsQR) to the link with its key.
// Three patients open their links (a German tablet-sized Chromium page, a
// German desktop Chromium page, an English Firefox), accept the consent,
// check their devices and wait; none sees another's name. The therapist
// starts the session, sees who waits (typed name and link), leaves one a
// message (shown on the waiting page, no sound), and calls them in one by
// one; everyone decodes everyone with end-to-end encryption on. Patient 1
// asks to share the screen and the therapist allows it. The therapist ends
// the session, is back on /sessions and downloads the record (its text is
// returned), after which the server has forgotten the session. Then: the
// ended session's link, the withdrawn link and a not-yet-open link of
// another therapist are refused with a clear page; the therapist cannot
// enter the other therapist's session; a patient link does not open
// another therapist's room.
//
// Arguments: USER PASSWORD OTHER_USER OTHER_PASSWORD MAX_PATIENTS
// Screenshots: waiting-room.png, therapist-session.png, session-record.png.
import fs from 'node:fs';
import path from 'node:path';
import jsQR from 'jsqr';
import {
  BASE_URL, OUT_DIR, axe, clickWhenVisible, launch, newPage, scenario, screenshot, sleep, waitAllReceiving, waitInPage,
  waitJoined,
} from '../lib/harness.mjs';

const [user, password, otherUser, otherPassword, maxArg] = process.argv.slice(2);
const MAX_PATIENTS = Number(maxArg || 9);

/** Logs in on /sessions. @param {import('puppeteer-core').Page} page @param {string} u @param {string} p */
async function loginOnSessions(page, u, p) {
  await page.goto(`${BASE_URL}/sessions`, { waitUntil: 'load' });
  await page.waitForSelector('#sessions-login-username', { visible: true, timeout: 10000 });
  await page.type('#sessions-login-username', u);
  await page.type('#sessions-login-password', p);
  await page.click('#sessions-login-submit');
  await page.waitForSelector('#session-form', { visible: true, timeout: 10000 });
}

/** The therapist's appointments as the API shows them. @param {import('puppeteer-core').Page} page */
const appointments = (page) => page.evaluate(async () => {
  const r = await fetch('/api/appointments', { cache: 'no-store' });
  return r.ok ? (await r.json()).appointments : { status: r.status };
});

/** Decodes the QR image of the open QR dialog (its SVG path, rasterised here). @param {import('puppeteer-core').Page} page */
async function decodeQr(page) {
  const src = await page.$eval('#qr-image', (img) => img.getAttribute('src'));
  const svg = decodeURIComponent(String(src).replace(/^data:image\/svg\+xml;charset=utf-8,/, ''));
  const n = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1]);
  const d = /<path fill="#000" d="([^"]*)"/.exec(svg)?.[1] ?? '';
  const scale = 4;
  const px = n * scale;
  const data = new Uint8ClampedArray(px * px * 4).fill(255);
  for (const [, xs, ys, ws] of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\3z/g)) {
    for (let y = Number(ys) * scale; y < (Number(ys) + 1) * scale; y++) {
      for (let x = Number(xs) * scale; x < (Number(xs) + Number(ws)) * scale; x++) {
        const i = (y * px + x) * 4;
        data[i] = data[i + 1] = data[i + 2] = 0;
      }
    }
  }
  return jsQR(data, px, px)?.data ?? null;
}

/** What a patient's page shows as text, and whom its session knows. @param {import('puppeteer-core').Page} page */
const seenBy = (page) => page.evaluate(() => ({
  text: document.body.innerText,
  participants: [...(window.kabineDebug?.session?.participants?.values() ?? [])].map((p) => p.display_name),
  lobby: (window.kabineDebug?.session?.lobby ?? []).map((p) => p.display_name),
}));

/** Opens a refused link and returns its status and text. @param {import('puppeteer-core').Page} page @param {string} url */
async function refused(page, url) {
  const response = await page.goto(url, { waitUntil: 'load' });
  return { status: response?.status() ?? 0, text: await page.evaluate(() => document.body.innerText) };
}

await scenario(async () => {
  const chromium = await launch({ lang: 'de-DE,de' });
  const firefox = await launch({ engine: 'firefox', lang: 'en-US,en', viewport: { width: 1280, height: 720 } });
  const result = /** @type {Record<string, any>} */ ({ axe: {} });

  // ---- the therapist plans the session -------------------------------------
  const therapist = { name: 'Dr. Anna Müller', page: await newPage(chromium, 'therapist', { width: 1280, height: 800 }) };
  const tp = therapist.page;
  await loginOnSessions(tp, user, password);
  await tp.type('#session-title', 'Gruppe Dienstag');
  await tp.click('#session-group');
  await tp.$eval('#session-patients', (el) => { el.value = '3'; });
  await tp.click('#session-create');
  await tp.waitForSelector('.appointment', { visible: true, timeout: 10000 });
  let [appointment] = await appointments(tp);
  const id = appointment.id;
  result.created = { group: appointment.group, links: appointment.links.map((l) => l.label), state: appointment.state };
  result.keyStored = await tp.evaluate((i) => localStorage.getItem(`kabine.appointment.${i}`), id);
  // Links up to the limit; the next one is refused.
  for (let n = 3; n < MAX_PATIENTS; n++) {
    await tp.click(`#add-link-${id}`);
    await waitInPage(tp, (i, want) => document.querySelectorAll(`#appointment-${i} .appointment-link`).length === want,
      [id, n + 1], 10000);
  }
  const statusBefore = await tp.$eval('#sessions-status', (el) => el.textContent);
  await tp.click(`#add-link-${id}`);
  result.tooMany = await waitInPage(tp, (before) => {
    const now = document.getElementById('sessions-status')?.textContent;
    return now !== before && now;
  }, [statusBefore], 10000);
  [appointment] = await appointments(tp);
  result.linksAtLimit = appointment.links.length;
  // Withdraw the last link.
  const last = appointment.links[appointment.links.length - 1];
  const lastUrl = await tp.$eval(`#link-${id}-${last.n}`, (el) => el.value);
  const spareUrl = await tp.$eval(`#link-${id}-4`, (el) => el.value);
  await tp.click(`#revoke-${id}-${last.n}`);
  await clickWhenVisible(tp, '#revoke-dialog-confirm');
  await waitInPage(tp, (i, n) => !document.getElementById(`revoke-${i}-${n}`), [id, last.n], 10000);
  // The links the patients get, with the session's key.
  const links = [];
  for (const n of [1, 2, 3]) links.push(await tp.$eval(`#link-${id}-${n}`, (el) => el.value));
  result.tokens = links.map((l) => new URL(l).pathname.split('/').pop());
  result.appointmentId = id;
  result.linksHaveKey = links.every((l) => l.endsWith(result.keyStored) && /\/t\/[A-Za-z0-9_-]{22}#k=[A-Za-z0-9_-]{22,}$/.test(l));
  // "Copy link" puts the link with its key on the clipboard.
  await tp.browserContext().overridePermissions(BASE_URL, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
  await tp.click(`#copy-${id}-2`);
  await waitInPage(tp, () => /kopiert/.test(document.getElementById('sessions-status')?.textContent ?? ''), [], 10000);
  result.copied = (await tp.evaluate(() => navigator.clipboard.readText())) === links[1];
  await tp.click(`#qr-${id}-1`);
  await tp.waitForSelector('#qr-dialog', { visible: true });
  result.qrDecodes = (await decodeQr(tp)) === links[0];
  result.axe.qr = await axe(tp);
  await tp.click('#qr-close');
  result.axe.sessions = await axe(tp);

  // ---- three patients open their links --------------------------------------
  const patients = [
    { name: 'Jörg Tablet', link: links[0], page: await newPage(chromium, 'patient1', { width: 768, height: 1024 }) },
    { name: 'Bea Desktop', link: links[1], page: await newPage(chromium, 'patient2', { width: 1280, height: 720 }) },
    { name: 'Fox Firefox', link: links[2], page: await newPage(firefox, 'patient3') },
  ];
  for (const [i, p] of patients.entries()) {
    await p.page.goto(p.link, { waitUntil: 'load' });
    await p.page.waitForSelector('#consent-accept', { visible: true, timeout: 15000 });
    if (i === 0) {
      result.consentPage = await p.page.evaluate(() => ({
        with: document.getElementById('appointment-with')?.textContent,
        text: document.getElementById('consent-text')?.textContent,
      }));
      result.axe.consent = await axe(p.page);
      // Declining first: nothing is sent, and the way back is offered.
      await p.page.click('#consent-decline');
      await p.page.waitForSelector('#consent-declined', { visible: true });
      result.declined = await p.page.evaluate(() => document.getElementById('consent-declined')?.innerText);
      result.wsBeforeConsent = await p.page.evaluate(() => !!window.kabineDebug);
      await p.page.click('#consent-again');
      await p.page.waitForSelector('#consent-accept', { visible: true });
    }
    if (i === 1) {
      // By keyboard: Tab from the page's heading to "I agree", then Enter.
      for (let k = 0; k < 12; k++) {
        if (await p.page.evaluate(() => document.activeElement?.id === 'consent-accept')) break;
        await p.page.keyboard.press('Tab');
      }
      result.consentByKeyboard = await p.page.evaluate(() => document.activeElement?.id);
      await p.page.keyboard.press('Enter');
    } else {
      await p.page.click('#consent-accept');
    }
    await p.page.waitForSelector('#display-name', { visible: true, timeout: 10000 });
    if (i === 0) {
      await p.page.waitForFunction(() => /\d/.test(document.getElementById('check-bandwidth')?.textContent ?? ''),
        { timeout: 15000 });
      result.bandwidth = await p.page.$eval('#check-bandwidth', (el) => ({ text: el.textContent, mbit: el.dataset.mbit }));
      await p.page.click('#check-speaker-test');
      result.speaker = await waitInPage(p.page, () => {
        const s = document.getElementById('check-speaker-status')?.textContent ?? '';
        return s && !s.endsWith('…') ? s : '';
      }, [], 10000);
      result.axe.check = await axe(p.page);
    }
    await p.page.type('#display-name', p.name);
    await p.page.click('#join-button');
  }
  for (const p of patients) {
    await waitInPage(p.page, () => window.kabineDebug?.session?.waitingFor === 'host' && !document.getElementById('gate')?.hidden,
      [], 15000);
  }
  result.waitingHost = await patients[0].page.evaluate(() => ({
    heading: document.getElementById('gate-title')?.textContent,
    when: document.getElementById('waiting-when')?.textContent,
  }));
  result.axe.waiting = await axe(patients[0].page);

  // ---- the therapist starts the session --------------------------------------
  await tp.click(`#start-${id}`);
  await tp.waitForSelector('#join-button', { visible: true, timeout: 10000 });
  result.startUrlHasKey = await tp.evaluate(() => location.hash.startsWith('#k='));
  await tp.click('#join-button');
  await waitJoined(tp, 15000);
  await waitInPage(tp, () => window.kabineDebug.session.lobby.length === 3, [], 15000);
  for (const p of patients) {
    await waitInPage(p.page, () => window.kabineDebug.session.waitingFor === 'lobby', [], 15000);
  }
  await tp.click('#knock-button');
  await tp.waitForSelector('#lobby-list li', { visible: true });
  result.lobby = await tp.$$eval('#lobby-list li', (lis) => lis.map((li) => ({
    name: li.querySelector('.name')?.textContent, link: li.querySelector('.link-label')?.textContent,
    callIn: li.querySelector('.admit')?.textContent,
  })));
  result.axe.therapistLobby = await axe(tp);
  // A message to the first patient.
  const knockerId = (name) => tp.evaluate((n) => window.kabineDebug.session.lobby.find((p) => p.display_name === n)?.id, name);
  const firstId = await knockerId(patients[0].name);
  await tp.click(`#lobby-list li[data-knocker="${firstId}"] .message`);
  await clickWhenVisible(tp, '#lobby-message-5');
  result.message = await waitInPage(patients[0].page, () => document.querySelector('#waiting-messages .waiting-message')?.textContent,
    [], 10000);
  result.messageRegion = await patients[0].page.$eval('#waiting-messages', (el) => el.getAttribute('role'));
  await screenshot(patients[0].page, 'waiting-room.png');
  // The device check stays usable while waiting.
  await patients[0].page.click('#waiting-check summary');
  await patients[0].page.waitForFunction(() => {
    const v = document.querySelector('#waiting-check .preview-video');
    return v && !v.hidden && v.srcObject;
  }, { timeout: 10000 });
  result.axe.waitingCheck = await axe(patients[0].page);
  // Nobody waiting sees anyone else's name.
  result.waitingSees = {};
  for (const p of patients) result.waitingSees[p.name] = await seenBy(p.page);

  // ---- called in one by one ----------------------------------------------------
  result.inOrder = [];
  for (const [i, p] of patients.entries()) {
    const pid = await knockerId(p.name);
    await tp.click(`#lobby-list li[data-knocker="${pid}"] .admit`);
    await waitJoined(p.page, 15000);
    result.inOrder.push(p.name);
    // Those still waiting know nobody yet.
    for (const q of patients.slice(i + 1)) {
      const seen = await seenBy(q.page);
      if (seen.participants.length || patients.some((o) => o !== q && seen.text.includes(o.name))) {
        result.leak = { who: q.name, seen };
      }
    }
  }
  const everyone = [therapist, ...patients];
  result.decodeMs = await waitAllReceiving(everyone, 30000);
  for (const p of everyone) await waitInPage(p.page, () => window.kabineDebug.session.e2eeStatus.allOk, [], 20000);
  result.inCall = {};
  for (const p of everyone) {
    result.inCall[p.name] = await p.page.evaluate(() => ({
      e2ee: window.kabineDebug.session.e2eeStatus.on && window.kabineDebug.session.e2eeStatus.allOk,
      role: window.kabineDebug.session.appointment?.role,
      intro: !document.getElementById('intro-prompt')?.hidden ? document.getElementById('intro-prompt')?.innerText : null,
      timer: !document.getElementById('session-timer')?.hidden ? document.getElementById('session-timer-value')?.textContent : null,
      endButton: !document.getElementById('session-end')?.hidden,
    }));
  }
  result.patientTitle = await patients[0].page.evaluate(() => ({ doc: document.title,
    heading: document.getElementById('room-title-text')?.textContent }));
  await screenshot(patients[0].page, 'patient-session.png');
  await sleep(1500);
  result.timerAfter = await tp.$eval('#session-timer-value', (el) => el.textContent);
  // The screenshot for docs/teletherapy.md without the last call-in's toast.
  await waitInPage(tp, () => !document.getElementById('toast')?.classList.contains('visible'), [], 12000);
  await screenshot(tp, 'therapist-session.png');
  result.axe.therapistCall = await axe(tp);

  // ---- screen sharing asks first -------------------------------------------------
  // (A failure here is reported, and the rest of the scenario still runs.)
  try {
    const p1 = patients[0].page;
    await p1.click('#ctl-screen');
    await tp.waitForSelector('#screen-request-dialog', { visible: true, timeout: 10000 });
    result.screenRequest = await tp.$eval('#screen-request-text', (el) => el.textContent);
    result.screenBefore = await p1.evaluate(() => !!window.kabineDebug.session.screenTrack);
    await tp.click('#screen-allow');
    await p1.waitForSelector('#screen-allowed-dialog', { visible: true, timeout: 10000 });
    await p1.click('#screen-share-now');
    result.screenShared = await waitInPage(p1, () => !!window.kabineDebug.session.screenTrack, [], 10000).catch(() => false);
    // And the other way: the therapist asks every patient.
    await tp.click('#ctl-screen');
    result.therapistAsked = [];
    for (const p of patients) {
      await p.page.waitForSelector('#screen-request-dialog', { visible: true, timeout: 10000 });
      result.therapistAsked.push(await p.page.$eval('#screen-request-text', (el) => el.textContent));
    }
    result.therapistScreenBefore = await tp.evaluate(() => !!window.kabineDebug.session.screenTrack);
    for (const p of patients) await p.page.click('#screen-allow');
    await tp.waitForSelector('#screen-allowed-dialog', { visible: true, timeout: 10000 });
    await tp.click('#screen-share-now');
    result.therapistShared = await waitInPage(tp, () => !!window.kabineDebug.session.screenTrack, [], 10000).catch(() => false);
  } catch (e) {
    result.screenError = String(e?.message ?? e);
  }

  // ---- another therapist -------------------------------------------------------------
  const stranger = await newPage(chromium, 'stranger');
  result.refused = {};
  // Another therapist's session: not open yet for its patient; closed to us.
  const other = await newPage(chromium, 'other-therapist');
  await loginOnSessions(other, otherUser, otherPassword);
  const tomorrow = new Date(Date.now() + 2 * 86400_000);
  await other.$eval('#session-date', (el, v) => { el.value = v; }, tomorrow.toISOString().slice(0, 10));
  await other.click('#session-create');
  await other.waitForSelector('.appointment', { visible: true, timeout: 10000 });
  const [theirs] = await appointments(other);
  const theirLink = await other.$eval(`#link-${theirs.id}-1`, (el) => el.value);
  result.refused.notYet = await refused(stranger, theirLink);
  // A patient's link does not open another therapist's room (a hand-made hello).
  // An unused, valid link of this session (Patient 4) with the other therapist's room.
  const token = new URL(spareUrl).pathname.split('/').pop();
  result.otherRoom = await stranger.evaluate(async ({ room, token }) => {
    // The link's own consent version: only the room is wrong.
    const view = await (await fetch(`/api/appointment/${token}`, { cache: 'no-store' })).json();
    const ws = new WebSocket(`wss://${location.host}/ws`);
    return new Promise((resolve) => {
      const done = setTimeout(() => resolve('no answer'), 8000);
      ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', version: 1, room, display_name: 'Mallory',
        appointment: { token, consent: view.consent.version } }));
      ws.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        if (msg.type === 'error' || msg.type === 'welcome' || msg.type === 'waiting') {
          clearTimeout(done);
          resolve(msg.type === 'error' ? msg.code : msg.type);
          ws.close();
        }
      };
    });
  }, { room: theirs.room, token });

  // ---- the end, and the record ------------------------------------------------------
  await tp.click('#session-end');
  await clickWhenVisible(tp, '#session-end-confirm');
  await tp.waitForFunction(() => location.pathname === '/sessions', { timeout: 15000 });
  await tp.waitForSelector(`#record-${id}`, { visible: true, timeout: 15000 });
  result.patientsEnded = [];
  for (const p of patients) {
    result.patientsEnded.push(await waitInPage(p.page, () => document.querySelector('.ended h1')?.textContent, [], 15000));
  }
  // The ended session's link and the withdrawn one (before the record deletes the session).
  result.refused.ended = await refused(stranger, links[0]);
  result.refused.revoked = await refused(stranger, lastUrl);
  // The record: the Blob the page saves, caught as it is made.
  await tp.evaluate(() => {
    const original = URL.createObjectURL;
    const click = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function () {
      if (this.download) window.kabineDownload = this.download;
      return click.call(this);
    };
    window.kabineBlobs = [];
    URL.createObjectURL = (blob) => {
      window.kabineBlobs.push(blob);
      return original.call(URL, blob);
    };
  });
  await tp.click(`#record-${id}`);
  const record = await waitInPage(tp, async () => (window.kabineBlobs?.[0] ? window.kabineBlobs[0].text() : ''), [], 10000);
  result.recordFileName = await tp.evaluate(() => window.kabineDownload ?? null);
  fs.writeFileSync(path.join(OUT_DIR, 'session-record.html'), record);
  result.record = record;
  await waitInPage(tp, () => /heruntergeladen|downloaded/.test(document.getElementById('sessions-status')?.textContent ?? ''),
    [], 10000);
  result.afterDownload = await appointments(tp);
  const recordPage = await newPage(chromium, 'record', { width: 900, height: 1100 });
  await recordPage.setContent(record, { waitUntil: 'load' });
  await screenshot(recordPage, 'session-record.png');
  result.axe.record = await axe(recordPage);

  // ---- refused links -------------------------------------------------------------
  // The first therapist opens the other's session room.
  await tp.goto(`${BASE_URL}/${theirs.room}`, { waitUntil: 'load' });
  await tp.waitForSelector('#join-button', { visible: true });
  await tp.click('#join-button');
  result.notYours = await waitInPage(tp, () => document.querySelector('.ended')?.innerText, [], 15000);
  return result;
}, { timeoutMs: 240000 });
