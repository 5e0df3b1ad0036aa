// Every request the pages make — documents, scripts, styles, images, API,
// WebSocket — goes to Kabine's own origin, through a whole visit: welcome,
// pre-join, call, leave.
import { BASE_URL, foreignRequests, joinRoom, launch, newPage, scenario, sleep } from '../lib/harness.mjs';

await scenario(async () => {
  // The recorder itself must see a foreign address when there is one.
  const selfTest = foreignRequests([{ url: 'https://elsewhere.example/x' }, { url: `${BASE_URL}/x` }, { url: 'data:,' }]).length === 1;
  const browser = await launch();
  const page = await newPage(browser, 'visitor');
  await page.goto(`${BASE_URL}/`, { waitUntil: 'load' });
  await page.waitForSelector('#room-name');
  await page.click('.welcome-form button.secondary');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#display-name');
  const room = await page.evaluate(() => decodeURIComponent(location.pathname.slice(1)));
  await joinRoom(page, room, 'Origin Tester').catch(() => {});
  await page.waitForSelector('#ctl-mic');
  await sleep(3000);
  await page.keyboard.press('c');
  await page.keyboard.type('hello');
  await page.keyboard.press('Enter');
  await sleep(500);
  await page.click('#ctl-leave');
  await sleep(500);
  const resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  return { selfTest, resources };
});
