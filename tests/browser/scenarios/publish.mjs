// Two Chromium pages publish camera and microphone in a room for a while
// (arguments: room, seconds, and optionally the link's fragment), for a
// test whose own synthetic participant looks at what the server forwards.
import { joinAll, launch, scenario, sleep, waitEveryoneFlowing } from '../lib/harness.mjs';

const [room, seconds, hash] = process.argv.slice(2);

await scenario(async () => {
  const browser = await launch();
  const people = [{ name: 'Pia', hash }, { name: 'Quinn', hash }];
  await joinAll(browser, room, people);
  const flowingMs = await waitEveryoneFlowing(people, 20000);
  await sleep(Number(seconds) * 1000);
  const e2ee = await Promise.all(people.map((p) => p.page.evaluate(() => window.kabineDebug.session.e2eeStatus)));
  return { flowingMs, e2ee };
});
