/**
 * Start-up time of the compiled server (`npm run bench:startup`, after `npm run build`): starts
 * `node dist/cli/roster.js serve` on an existing SQLite database (created and migrated by a
 * first start that is not counted) and reports, per run, the time from spawning the process to
 * the first 200 of GET /healthz, and the server's CPU time (user + system, from /proc) then.
 * BENCH_RUNS (default 5) sets the number of runs; BENCH_COMMAND='node --import tsx
 * src/cli/roster.ts serve' compares another way of starting, BENCH_COMMAND='npm start' measures
 * what the README says (the CPU time is then that of npm and the server together).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/process.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const [command = 'node', ...args] = (process.env['BENCH_COMMAND'] ?? 'node dist/cli/roster.js serve').split(' ');

/** User + system CPU time of `pid` and its descendants, in ms (fields 14 and 15 of /proc/<pid>/stat, in ticks of 10 ms). */
function treeCpu(pid: number): number {
  const stats = new Map<number, { parent: number; cpu: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      stats.set(Number(entry), { parent: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) * 10 });
    } catch {
      // exited meanwhile
    }
  }
  const inTree = (candidate: number): boolean => {
    for (let at: number | undefined = candidate; at !== undefined && at > 1; at = stats.get(at)?.parent) if (at === pid) return true;
    return false;
  };
  let cpu = 0;
  for (const [candidate, stat] of stats) if (inTree(candidate)) cpu += stat.cpu;
  return cpu;
}

/** Starts once; resolves with the wall time to a healthy /healthz and the CPU time then, in ms. */
async function start(databaseUrl: string): Promise<{ wall: number; cpu: number }> {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ROSTER_DATABASE_URL: databaseUrl, ROSTER_PORT: String(port), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' },
    stdio: 'ignore',
    // Its own process group, so that stopping it stops the server under `npm start` too (npm
    // does not pass SIGTERM on).
    detached: true,
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command} ${args.join(' ')} exited with ${child.exitCode}`);
      const answer = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (answer?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const wall = performance.now() - began;
    return { wall, cpu: treeCpu(child.pid ?? 0) };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
    await exited;
  }
}

if (command === 'node' && args[0] === 'dist/cli/roster.js' && !existsSync(join(ROOT, 'dist', 'cli', 'roster.js'))) {
  throw new Error('dist/ is missing: run `npm run build` first');
}
const directory = mkdtempSync(join(tmpdir(), 'roster-startup-'));
try {
  const databaseUrl = `sqlite:${join(directory, 'roster.db')}`;
  await start(databaseUrl);
  process.stdout.write(`${command} ${args.join(' ')}, existing SQLite database, ${RUNS} runs\n`);
  for (let run = 1; run <= RUNS; run += 1) {
    const { wall, cpu } = await start(databaseUrl);
    process.stdout.write(`run ${run}: ready after ${wall.toFixed(0)} ms, server CPU ${cpu} ms\n`);
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}
