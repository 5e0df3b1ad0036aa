// Keyboard shortcuts in the call: M, V, D (screen), C, R, T, Space
// (push-to-talk), ?; none of them fire while typing in a text field.
import { BASE_URL, joinRoom, launch, newPage, scenario, sleep } from '../lib/harness.mjs';

await scenario(async () => {
  const browser = await launch();
  const page = await newPage(browser, 'keyboard');
  const room = `keys-${Date.now()}`;
  await joinRoom(page, room, 'Kim').catch(async () => {
    // Without a server session the call page still works locally.
    await page.waitForSelector('#ctl-mic');
  });
  await page.waitForSelector('#ctl-mic');
  await sleep(300);
  const state = () => page.evaluate(() => {
    const pressed = (id) => document.getElementById(id)?.getAttribute('aria-pressed');
    const s = window.kabineDebug.session;
    return {
      mic: pressed('ctl-mic'),
      micTrackEnabled: s.micTrack?.enabled ?? null,
      camera: pressed('ctl-camera'),
      cameraTrack: !!s.cameraTrack,
      screen: pressed('ctl-screen'),
      screenTrack: !!s.screenTrack,
      hand: pressed('ctl-hand'),
      chatOpen: !document.getElementById('chat-panel')?.hidden,
      speaker: document.getElementById('stage')?.classList.contains('speaker'),
      help: !!document.getElementById('help-dialog')?.open,
      focus: document.activeElement?.id || document.activeElement?.tagName,
      announced: [...document.querySelectorAll('#announce-polite p')].map((p) => p.textContent),
    };
  });
  const steps = {};
  steps.start = await state();
  await page.keyboard.press('m');
  await sleep(150);
  steps.afterM = await state();
  // Push-to-talk: hold Space while muted.
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await page.keyboard.down(' ');
  await sleep(150);
  steps.spaceHeld = await state();
  await page.keyboard.up(' ');
  await sleep(150);
  steps.spaceReleased = await state();
  await page.keyboard.press('v');
  await sleep(300);
  steps.afterV = await state();
  await page.keyboard.press('v');
  await sleep(600);
  steps.afterVV = await state();
  await page.keyboard.press('r');
  await sleep(150);
  steps.afterR = await state();
  await page.keyboard.press('t');
  await sleep(150);
  steps.afterT = await state();
  await page.keyboard.press('t');
  await page.keyboard.press('d');
  await sleep(1500);
  steps.afterD = await state();
  await page.keyboard.press('d');
  await sleep(300);
  steps.afterDD = await state();
  await page.keyboard.press('c');
  await sleep(150);
  steps.afterC = await state();
  // Typing in the chat field: letters are text, not shortcuts.
  await page.keyboard.type('mvrt d?');
  await sleep(150);
  steps.typing = await state();
  steps.typed = await page.$eval('#chat-input', (e) => e.value);
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await page.keyboard.press('c');
  await sleep(150);
  steps.afterCC = await state();
  await page.keyboard.press('?');
  await sleep(150);
  steps.afterHelp = await state();
  // Shortcuts do nothing while the dialog is open; Escape closes it.
  await page.keyboard.press('m');
  await sleep(100);
  steps.mInDialog = await state();
  await page.keyboard.press('Escape');
  await sleep(150);
  steps.afterEscape = await state();
  return { steps, url: BASE_URL };
});
