// A participant behind a firewall: Cleo's Chromium runs in a network
// namespace that drops all UDP (the Rust test sets it up), Anna and Ben's on
// this machine's network. All three must decode each other; each page
// reports how its media travels (the selected candidate pair, and what the
// connection details show).
//
// Args: `netns=NAME` (Cleo's namespace); `relay`: Cleo's page may use only
// relay candidates through the server's TURN/TLS relay (as a network that
// lets only TLS out forces), so her media must flow through the relay.
import { joinRoom, launch, newPage, scenario, screenshot, sleep, uniqueRoom, waitAllReceiving } from '../lib/harness.mjs';

const netns = process.argv.find((a) => a.startsWith('netns='))?.slice(6);
const relayOnly = process.argv.includes('relay');

/** What a page says about its transport: from the stats and from the UI. */
async function transport(page) {
  return page.evaluate(async () => {
    const s = window.kabineDebug?.session;
    const pair = async (pc) => {
      if (!pc) return null;
      const report = await pc.getStats();
      let selected = null;
      report.forEach((x) => {
        if (x.type === 'transport' && x.selectedCandidatePairId) selected = report.get(x.selectedCandidatePairId);
      });
      const local = selected ? report.get(selected.localCandidateId) : null;
      const remote = selected ? report.get(selected.remoteCandidateId) : null;
      return local && remote
        ? { local: local.protocol, type: local.candidateType, relayProtocol: local.relayProtocol ?? null,
            remote: remote.protocol, remoteType: remote.candidateType }
        : null;
    };
    const shown = document.getElementById('own-quality');
    return { publish: await pair(s?.pub), subscribe: await pair(s?.sub), shown: shown?.dataset.transport ?? null,
      text: shown?.textContent ?? null };
  });
}

await scenario(async () => {
  if (!netns) throw new Error('restricted.mjs needs netns=NAME');
  const open = await launch();
  // The relay's certificate is the test server's self-signed one.
  const walled = await launch({ netns, args: relayOnly ? ['--ignore-certificate-errors'] : [] });
  const people = [
    { name: 'Anna Berg' },
    { name: 'Ben Okafor' },
    { name: 'Cleo Santos', browser: walled },
  ];
  for (const p of people) p.page = await newPage(p.browser ?? open, p.name);
  let relayServers = null;
  if (relayOnly) {
    // Only the server's TURN/TLS relay, and only relay candidates.
    await people[2].page.evaluateOnNewDocument(() => {
      const Original = window.RTCPeerConnection;
      const Forced = function (config = {}) {
        const iceServers = (config.iceServers ?? []).filter((s) => [].concat(s.urls).some((u) => u.startsWith('turns:')));
        // The first connection with the relay (a direct call's has none: the
        // relay reaches only the server).
        if (iceServers.length && !window.kabineRelayServers) {
          window.kabineRelayServers = iceServers.map((s) => ({ urls: s.urls, username: Boolean(s.username) }));
        }
        return new Original({ ...config, iceServers, iceTransportPolicy: 'relay' });
      };
      Forced.prototype = Original.prototype;
      Object.setPrototypeOf(Forced, Original);
      window.RTCPeerConnection = Forced;
    });
  }
  const room = uniqueRoom('restricted');
  await Promise.all(people.map((p) => joinRoom(p.page, room, p.name)));
  if (relayOnly) relayServers = await people[2].page.evaluate(() => window.kabineRelayServers ?? null);
  const ms = await waitAllReceiving(people, 30000);
  if (relayOnly && !relayServers) relayServers = await people[2].page.evaluate(() => window.kabineRelayServers ?? null);
  // The connection details show the transport after the next stats round (2 s).
  await sleep(4500);
  const transports = {};
  for (const p of people) transports[p.name] = await transport(p.page);
  await screenshot(people[2].page, relayOnly ? 'restricted-relay.png' : 'restricted-tcp.png');
  return { ms, transports, relayServers, at: Date.now() };
});
