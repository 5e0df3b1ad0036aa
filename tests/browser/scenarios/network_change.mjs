// A call survives the machine's network changing: while two people talk,
// a network interface appears, gets an address and goes away again (as
// when a VPN, a container or a second network comes up on a laptop).
// Chromium then closes every HTTP/2 connection it has (ERR_NETWORK_CHANGED);
// the call's signalling must not be one of them. Reports how often each
// page connected (1 = never reconnected) and whether media still flows.
//
// Needs root (ip link). Usage: network_change.mjs
import { execFileSync } from 'node:child_process';

import { joinAll, launch, scenario, sleep, uniqueRoom, waitEveryoneFlowing } from '../lib/harness.mjs';

/** A veth pair with a test address (RFC 5737), up, for `ms`, then gone. */
async function networkBlip(ms) {
  const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });
  const name = `kbnc${process.pid % 10000}`;
  ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
  try {
    ip('addr', 'add', '192.0.2.77/24', 'dev', name);
    ip('link', 'set', name, 'up');
    ip('link', 'set', `${name}p`, 'up');
    await sleep(ms);
  } finally {
    ip('link', 'del', name);
  }
}

await scenario(async () => {
  const browser = await launch();
  const people = [{ name: 'Anna Berg' }, { name: 'Ben Okafor' }];
  await joinAll(browser, uniqueRoom('netchange'), people);
  await waitEveryoneFlowing(people, 15000);
  const generation = () => Promise.all(people.map((p) => p.page.evaluate(() => window.kabineDebug.session.generation)));
  const before = await generation();
  await networkBlip(1500);
  // Chromium reacts to the change within about a second; give it time.
  await sleep(4000);
  const after = await generation();
  const flowingMs = await waitEveryoneFlowing(people, 10000);
  const wsOverH2 = await Promise.all(people.map((p) => p.page.evaluate(() => {
    const e = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/ws'));
    return e ? e.nextHopProtocol : null;
  })));
  return { before, after, flowingMs, wsOverH2 };
});
