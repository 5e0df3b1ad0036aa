// Recording with consent, three Chromium participants (tests/it/recording_browser.rs
// judges the files): the host asks; until everyone has agreed nothing is
// written to the recording directory (argv[2]); the consent dialog cannot
// be dismissed with Escape; after everyone agreed, ~10 s of call; stop.
// Then a second recording where Ben declines: he sees that he is not
// recorded, and the Rust side finds him in no file.
import fs from 'node:fs';
import path from 'node:path';
import { axe, joinAll, launch, scenario, screenshot, sleep, uniqueRoom, waitAllReceiving, waitInPage } from '../lib/harness.mjs';

const recDir = process.argv[2];

/** Every file below the recording directory. */
function filesIn(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(dir, f)).isFile());
}

const state = (page) => page.evaluate(() => ({
  recording: window.kabineDebug.session.recording.state,
  indicatorShown: !document.getElementById('recording-indicator')?.hidden,
  indicatorOn: document.getElementById('recording-indicator')?.classList.contains('on') ?? false,
  text: document.getElementById('recording-indicator')?.textContent ?? '',
  dialogOpen: document.getElementById('recording-consent')?.open ?? false,
}));

const waitState = (page, want, ms = 10000) =>
  waitInPage(page, (w) => window.kabineDebug.session.recording.state === w, [want], ms);
const waitDialog = (page, ms = 10000) =>
  waitInPage(page, () => document.getElementById('recording-consent')?.open === true, [], ms);

await scenario(async () => {
  const browser = await launch();
  // Anna opens the room and so moderates it; Ben and Cleo join together
  // (joined all at once, whoever's hello came first would moderate).
  const room = uniqueRoom('rec');
  const [anna] = await joinAll(browser, room, [{ name: 'Anna Host' }]);
  const [ben, cleo] = await joinAll(browser, room, [{ name: 'Ben Decliner' }, { name: 'Cleo Late' }]);
  const people = [anna, ben, cleo];
  await waitAllReceiving(people, 20000);
  const ids = {};
  for (const p of people) ids[p.name] = await p.page.evaluate(() => window.kabineDebug.session.you.id);

  // ---- first recording: everyone agrees --------------------------------
  await waitInPage(anna.page, () => !document.getElementById('record-start')?.hidden, [], 5000);
  await anna.page.click('#record-start');
  await waitDialog(ben.page);
  await waitDialog(cleo.page);
  const asking = {};
  for (const p of people) asking[p.name] = await state(p.page);
  const dialogAxe = await axe(cleo.page);
  await screenshot(cleo.page, 'consent-dialog.png');
  // Escape does not dismiss the dialog without an answer.
  await cleo.page.keyboard.press('Escape');
  await sleep(300);
  const escapeKeptDialog = (await state(cleo.page)).dialogOpen;
  await ben.page.click('#recording-agree');
  // Cleo has not answered: nothing may be written, however long we wait.
  await sleep(3000);
  const filesBeforeAllAgreed = filesIn(recDir);
  const stateBeforeAllAgreed = await state(anna.page);
  await cleo.page.click('#recording-agree');
  for (const p of people) await waitState(p.page, 'on');
  const started = Date.now();
  const recordingUi = {};
  for (const p of people) recordingUi[p.name] = await state(p.page);
  await screenshot(anna.page, 'recording-on.png');
  await sleep(6000);
  await anna.page.click('#record-stop');
  const recordedMs = Date.now() - started;
  for (const p of people) await waitState(p.page, 'off');
  const afterStop = {};
  for (const p of people) afterStop[p.name] = await state(p.page);

  // ---- second recording: Ben declines ------------------------------------
  await sleep(500);
  await anna.page.click('#record-start');
  await waitDialog(ben.page);
  await waitDialog(cleo.page);
  await ben.page.click('#recording-decline');
  await cleo.page.click('#recording-agree');
  for (const p of people) await waitState(p.page, 'on');
  const declinedUi = {};
  for (const p of people) declinedUi[p.name] = await state(p.page);
  await screenshot(ben.page, 'not-recorded.png');
  await sleep(4000);
  await anna.page.click('#record-stop');
  for (const p of people) await waitState(p.page, 'off');
  // Let the recorder close the files.
  await sleep(1000);
  return {
    ids, asking, dialogAxe, escapeKeptDialog, filesBeforeAllAgreed, stateBeforeAllAgreed, recordingUi, recordedMs,
    afterStop, declinedUi,
  };
}, { timeoutMs: 150000 });
