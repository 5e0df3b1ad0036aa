// The browser's CPU cost of end-to-end encryption (docs/performance.md):
// four Chromium pages in one call, for `seconds` after everyone decodes
// everyone; run once against a server with e2ee.mode = "required" and once
// with "off". Reports the CPU time of the whole Chromium process tree per
// second of the window, and (with E2EE) the time the frame worker spent in
// WebCrypto. Arguments: seconds, and the link's fragment ('-' for none,
// 'random' for a new link key). Run by `scripts/bench browser-e2ee`.
import crypto from 'node:crypto';
import fs from 'node:fs';

import { joinAll, launch, scenario, sleep, uniqueRoom, waitEveryoneFlowing } from '../lib/harness.mjs';

const [seconds = '30', arg = '-'] = process.argv.slice(2);
const hash = arg === 'random' ? `#k=${crypto.randomBytes(16).toString('base64url')}` : arg;

/** CPU seconds (user + system) of process `root` and all its descendants. */
function treeCpu(root) {
  const parents = new Map();
  const cpu = new Map();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(pid), Number(f[1]));
      cpu.set(Number(pid), (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // Gone meanwhile.
    }
  }
  let total = 0;
  let processes = 0;
  for (const [pid, t] of cpu) {
    for (let p = pid; p > 1; p = parents.get(p) ?? 0) {
      if (p === root) {
        total += t;
        processes++;
        break;
      }
    }
  }
  return { seconds: total, processes };
}

await scenario(async () => {
  const browser = await launch();
  const root = browser.process()?.pid;
  const people = ['Ann', 'Ben', 'Cyd', 'Dan'].map((name) => ({ name, hash: hash === '-' ? undefined : hash }));
  await joinAll(browser, uniqueRoom('cpu'), people);
  const flowingMs = await waitEveryoneFlowing(people, 30000);
  await sleep(8000);
  const work = () => Promise.all(people.map((p) => p.page.evaluate(async () => {
    const c = window.kabineDebug.session.crypto;
    return c ? (await c.stats()).work : null;
  })));
  const before = { cpu: treeCpu(root), at: Date.now(), work: await work() };
  await sleep(Number(seconds) * 1000);
  const after = { cpu: treeCpu(root), at: Date.now(), work: await work() };
  const wall = (after.at - before.at) / 1000;
  const e2ee = await Promise.all(people.map((p) => p.page.evaluate(() => window.kabineDebug.session.e2eeStatus.on)));
  const pages = people.map((p, i) => {
    const a = after.work[i];
    const b = before.work[i];
    if (!a || !b) return { name: p.name };
    return {
      name: p.name,
      encryptedPerS: (a.encrypted - b.encrypted) / wall,
      decryptedPerS: (a.decrypted - b.decrypted) / wall,
      cryptoMsPerS: (a.encryptMs - b.encryptMs + a.decryptMs - b.decryptMs) / wall,
    };
  });
  return {
    flowingMs,
    e2ee,
    wallS: wall,
    processes: after.cpu.processes,
    cores: (after.cpu.seconds - before.cpu.seconds) / wall,
    pages,
  };
}, { timeoutMs: 180000 });
