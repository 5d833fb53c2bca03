/** Real `roster serve` processes for the tests that need a port, a signal or a second instance. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rosterArgs } from './roster-command.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Instance {
  readonly process: ChildProcess;
  /** http://127.0.0.1:<port> */
  readonly base: string;
  readonly port: number;
  /** Everything the process printed, stdout and stderr. */
  output: string;
  /** What it printed on stdout alone. */
  stdout: string;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts `roster serve` on a free port of 127.0.0.1; `env` adds to or overrides the defaults. */
export async function startInstance(databaseUrl: string, env: Record<string, string> = {}): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, rosterArgs('serve'), {
    cwd: ROOT,
    env: {
      ...process.env,
      ROSTER_DATABASE_URL: databaseUrl,
      ROSTER_PORT: String(port),
      ROSTER_HOST: '127.0.0.1',
      ROSTER_BASE_URL: `http://127.0.0.1:${port}`,
      ROSTER_LOG_LEVEL: 'warn',
      // First start on PostgreSQL writes admin's password file here, not into the checkout's ./data.
      ROSTER_DATA_DIR: mkdtempSync(join(tmpdir(), 'roster-data-')),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance: Instance = { process: child, base: `http://127.0.0.1:${port}`, port, output: '', stdout: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    instance.output += chunk.toString();
    instance.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => (instance.output += chunk.toString()));
  return instance;
}

/**
 * Resolves once GET /healthz answers 200; fails if the process exits or 60 s pass (a start
 * through tsx on a loaded 2-core machine has taken over 30). A process that never became
 * healthy is killed: left running, it would keep the test file's process alive, and the run would
 * hang instead of reporting the failure.
 */
export async function waitHealthy(instance: Instance): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (instance.process.exitCode !== null) throw new Error(`instance exited early:\n${instance.output}`);
    try {
      if ((await fetch(`${instance.base}/healthz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  instance.process.kill('SIGKILL');
  throw new Error(`instance not healthy after 60 s:\n${instance.output}`);
}

/** Sends SIGTERM and resolves with the exit code. */
export async function stop(instance: Instance): Promise<number | null> {
  // A process ended by a signal (kill -9) has no exit code but a signalCode.
  if (instance.process.exitCode !== null || instance.process.signalCode !== null) return instance.process.exitCode;
  const exited = new Promise<number | null>((resolve) => instance.process.once('exit', (code) => resolve(code)));
  instance.process.kill('SIGTERM');
  return exited;
}
