// Three people in one room (so media goes through the SFU), kept in the call
// for a few seconds while the Rust test scrapes /metrics. Reports the room
// and the names, which must appear nowhere in the metrics.
import { joinAll, launch, scenario, sleep, uniqueRoom, waitAllReceiving } from '../lib/harness.mjs';

await scenario(async () => {
  const chromium = await launch();
  const people = [{ name: 'Amira Vogelsang' }, { name: 'Bruno Quastenberg' }, { name: 'Carla Wendeltreppe' }];
  const room = uniqueRoom('metricsroom');
  await joinAll(chromium, room, people);
  const ms = await waitAllReceiving(people, 10000);
  // Media keeps flowing while the test scrapes.
  await sleep(4000);
  return { ms, room, names: people.map((p) => p.name) };
});
