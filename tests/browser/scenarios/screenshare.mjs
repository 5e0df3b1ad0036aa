// One of three shares the screen (key D): both others decode it while the
// sharer's camera video keeps flowing to them.
import { inbound, joinAll, launch, scenario, screenshot, sleep, uiState, uniqueRoom, waitAllReceiving, waitInPage } from '../lib/harness.mjs';

/** framesDecoded of `name`'s `source` as seen by `page`. */
async function frames(page, name, source) {
  const st = await inbound(page);
  return st.tracks.find((t) => t.name === name && t.source === source && t.kind === 'video')?.framesDecoded ?? 0;
}

await scenario(async () => {
  const browser = await launch();
  const people = [{ name: 'Sharer' }, { name: 'Viewer One' }, { name: 'Viewer Two' }];
  await joinAll(browser, uniqueRoom('screen'), people);
  await waitAllReceiving(people, 10000);
  const [sharer, ...viewers] = people;
  await sharer.page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await sharer.page.keyboard.press('d');
  await waitInPage(sharer.page, () => !!window.kabineDebug.session.screenTrack, [], 5000);
  const start = Date.now();
  const screenDecoded = {};
  const cameraFlow = {};
  for (const v of viewers) {
    const end = Date.now() + 10000;
    while (Date.now() < end && (await frames(v.page, 'Sharer', 'screen')) === 0) await sleep(200);
    screenDecoded[v.name] = await frames(v.page, 'Sharer', 'screen');
  }
  const screenMs = Date.now() - start;
  // Both viewers over the same 3 s window: on a loaded 2-core machine the
  // fake camera's low layer can run at a few frames a second.
  const before = {};
  for (const v of viewers) {
    before[v.name] = { camera: await frames(v.page, 'Sharer', 'camera'), screen: await frames(v.page, 'Sharer', 'screen') };
  }
  await sleep(3000);
  for (const v of viewers) {
    cameraFlow[v.name] = {
      cameraBefore: before[v.name].camera,
      cameraAfter: await frames(v.page, 'Sharer', 'camera'),
      screenBefore: before[v.name].screen,
      screenAfter: await frames(v.page, 'Sharer', 'screen'),
    };
  }
  const ui = await uiState(viewers[0].page);
  await screenshot(viewers[0].page, 'screen-share-tiles.png');
  await viewers[0].page.keyboard.press('t');
  await sleep(1000);
  await screenshot(viewers[0].page, 'screen-share-speaker.png');
  // Stopping the share ends the screen track at the others.
  await sharer.page.keyboard.press('d');
  await sleep(2500);
  const afterStop = await uiState(viewers[1].page);
  return { screenMs, screenDecoded, cameraFlow, ui, afterStop };
});
