// Clear status and automatic recovery: joining while the server cannot be
// reached shows that and retries; a lost connection shows that, reconnects
// with backoff, joins the room again, and media flows again both ways.
import { BASE_URL, joinAll, launch, newPage, scenario, sleep, uniqueRoom, waitAllReceiving, waitInPage } from '../lib/harness.mjs';

const bannerText = (page) => page.evaluate(() => {
  const b = document.querySelector('.banner');
  return b && !b.hidden ? b.textContent : '';
});

await scenario(async () => {
  const browser = await launch();
  const room = uniqueRoom('recover');

  // 1. Server unreachable when joining.
  const alone = await newPage(browser, 'Offline Olga');
  await alone.goto(`${BASE_URL}/${room}-offline`, { waitUntil: 'load' });
  await alone.waitForSelector('#display-name');
  await alone.type('#display-name', 'Offline Olga');
  await alone.setOfflineMode(true);
  await alone.click('#join-button');
  await waitInPage(alone, () => window.kabineDebug?.session?.state === 'reconnecting', [], 15000);
  const unreachable = {
    banner: await bannerText(alone),
    status: await alone.evaluate(() => document.getElementById('call-status')?.textContent),
    retryVisible: await alone.evaluate(() => !document.querySelector('.banner button')?.hidden),
  };
  await alone.setOfflineMode(false);
  await alone.click('.banner button');
  await waitInPage(alone, () => window.kabineDebug.session.state === 'joined', [], 10000);
  unreachable.joinedAfter = true;
  unreachable.bannerAfter = await bannerText(alone);
  await alone.close();

  // 2. A connection lost in the call.
  const people = [{ name: 'Lena' }, { name: 'Moritz' }];
  await joinAll(browser, room, people);
  await waitAllReceiving(people, 10000);
  const [lena] = people;
  const genBefore = await lena.page.evaluate(() => window.kabineDebug.session.generation);
  await lena.page.evaluate(() => window.kabineDebug.session.ws.close());
  await waitInPage(lena.page, () => window.kabineDebug.session.state === 'reconnecting', [], 3000);
  const lost = { banner: await bannerText(lena.page) };
  const t0 = Date.now();
  await waitInPage(lena.page, () => window.kabineDebug.session.state === 'joined', [], 15000);
  lost.rejoinMs = Date.now() - t0;
  await waitAllReceiving(people, 10000);
  lost.mediaAgainMs = Date.now() - t0;
  lost.generationGrew = (await lena.page.evaluate(() => window.kabineDebug.session.generation)) > genBefore;
  lost.bannerAfter = await bannerText(lena.page);
  await sleep(300);
  lost.announced = await lena.page.evaluate(() => [...document.querySelectorAll('#announce-polite p')].map((p) => p.textContent));
  return { unreachable, lost };
});
