/**
 * Start-up time of the compiled server (`npm run bench:startup`, after `npm run build`): starts
 * `node dist/cli/roster.js serve` on an existing SQLite database (created and migrated by a
 * first start that is not counted) and reports, per run, the time from spawning the process to
 * the first 200 of GET /healthz, and the server's CPU time (user + system, from /proc) then.
 * BENCH_RUNS (default 5) sets the number of runs; BENCH_COMMAND='node --import tsx
 * src/cli/roster.ts serve' compares another way of starting.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/process.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const [command = 'node', ...args] = (process.env['BENCH_COMMAND'] ?? 'node dist/cli/roster.js serve').split(' ');

/** Starts once; resolves with the wall time to a healthy /healthz and the CPU time then, in ms. */
async function start(databaseUrl: string): Promise<{ wall: number; cpu: number }> {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ROSTER_DATABASE_URL: databaseUrl, ROSTER_PORT: String(port), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command} ${args.join(' ')} exited with ${child.exitCode}`);
      const answer = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (answer?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const wall = performance.now() - began;
    // Fields 14 and 15 of /proc/<pid>/stat: user and system time in clock ticks (100 per second on Linux).
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const cpu = (Number(fields[11]) + Number(fields[12])) * 10;
    return { wall, cpu };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
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
