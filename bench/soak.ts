/**
 * Soak (not part of `npm test`): sends at least 100,000 seeded random requests, valid and
 * hostile, across SCIM, the admin API and the SAML endpoints to a `roster serve` child process
 * over a few keep-alive connections, and reports statuses by class, every 5xx (with a curl line
 * to replay it), dropped connections, the child's RSS at start, middle and end, and the
 * duration. Exits 1 when any 5xx or dropped request occurred.
 *
 *   npm run soak -- [--seed N] [--requests N] [--concurrency N] [--database postgres://…]
 *
 * Figures go to docs/operations.md ("Hostile input and soak").
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createServices } from '../src/services.ts';
import { openStore, type DatabaseLocation } from '../src/store/index.ts';
import { TEST_IDP, testCertificate } from '../test/support/app.ts';
import { startInstance, stop, waitHealthy } from '../test/support/process.ts';
import { asCurl, runSoak } from './soak/runner.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    requests: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '4' },
    database: { type: 'string' },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const count = Number(values.requests);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('usage: npm run soak -- [--seed N] [--requests N] [--concurrency N] [--database postgres://…]');
  process.exit(2);
}

/** The resident set size of a process in MiB (Linux /proc), or NaN elsewhere. */
function rssMiB(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
    return kib / 1024;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'roster-soak-'));
  const location: DatabaseLocation = values.database !== undefined ? { kind: 'postgres', url: values.database } : { kind: 'sqlite', path: join(directory, 'roster.db') };
  const databaseUrl = location.kind === 'postgres' ? location.url : `sqlite:${location.path}`;
  console.log(`seed ${seed} (replay with --seed ${seed}), ${count} requests over ${concurrency} connections`);
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}; database ${location.kind}`);

  // The instance as an administrator leaves it: SAML configured, SCIM on, one token.
  const store = await openStore(location);
  const services = createServices(store);
  const actor = { kind: 'cli' } as const;
  const configured = await services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()] }, actor);
  if (!configured.ok) throw new Error('SAML configuration refused');
  await services.provisioning.enable(actor);
  await services.administrators.ensureAdministrator();
  const admin = await services.accounts.findByLogin('admin');
  if (admin === undefined) throw new Error('no admin');
  const { token } = await services.tokens.create('soak', actor, admin.id);
  await store.close();

  const instance = await startInstance(databaseUrl, { ROSTER_LOG_LEVEL: 'error' });
  try {
    await waitHealthy(instance);
    const pid = instance.process.pid;
    const samples: Array<{ at: number; rss: number }> = [{ at: 0, rss: rssMiB(pid) }];
    const report = await runSoak({
      base: instance.base,
      token,
      seed,
      count,
      concurrency,
      progress: {
        every: Math.max(1, Math.floor(count / 20)),
        call(sent) {
          samples.push({ at: sent, rss: rssMiB(pid) });
          console.log(`  ${String(sent).padStart(7)} sent, RSS ${rssMiB(pid).toFixed(0)} MiB`);
        },
      },
    });
    const middle = samples[Math.floor(samples.length / 2)];
    const first = samples[1] ?? samples[0];
    const last = samples.at(-1);
    console.log('');
    console.log(`sent ${report.sent} in ${(report.durationMs / 1000).toFixed(1)} s (${(report.sent / (report.durationMs / 1000)).toFixed(0)} req/s)`);
    console.log(`by status class: ${Object.entries(report.byClass).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`5xx: ${report.serverErrors.length}; dropped: ${report.dropped.length}`);
    console.log(`RSS (MiB): before ${samples[0]?.rss.toFixed(0)}, after ${first?.at} requests ${first?.rss.toFixed(0)}, at ${middle?.at} ${middle?.rss.toFixed(0)}, at ${last?.at} ${last?.rss.toFixed(0)}`);
    for (const problem of [...report.serverErrors, ...report.dropped].slice(0, 50)) {
      console.log(`\n#${problem.index} → ${problem.outcome}${problem.answer !== undefined ? `: ${problem.answer.slice(0, 300)}` : ''}`);
      console.log(asCurl(instance.base, problem.request));
      if (problem.previous !== undefined) console.log(`  after, on the same connection, ${problem.previous.status} ${problem.previous.headers} for:\n  ${asCurl(instance.base, problem.previous.request).slice(0, 600)}`);
    }
    if (instance.process.exitCode !== null) console.log(`the instance exited with ${instance.process.exitCode}:\n${instance.output.slice(-3000)}`);
    else if (instance.output.trim() !== '') console.log(`\ninstance log (last 3000 characters):\n${instance.output.slice(-3000)}`);
    process.exitCode = report.serverErrors.length + report.dropped.length > 0 ? 1 : 0;
  } finally {
    await stop(instance);
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
