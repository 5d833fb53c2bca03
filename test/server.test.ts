import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

test('roster serve answers /healthz, prints the SCIM base URL, and exits cleanly on SIGTERM', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', 'serve'], {
    env: { ...process.env, ROSTER_PORT: String(port), ROSTER_HOST: '127.0.0.1', ROSTER_DATABASE_URL: `sqlite:${join(directory, 'roster.db')}`, ROSTER_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    let healthy = false;
    for (let attempt = 0; attempt < 100 && !healthy; attempt += 1) {
      try {
        healthy = (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.ok(healthy, `server never became healthy:\n${output}`);
    assert.match(output, new RegExp(`SCIM base URL.*http://localhost:${port}/api/scim/v2`));
    assert.match(output, /tokens create --name/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    assert.match(output, /stopped cleanly/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a bad ROSTER_PORT stops start-up with a message naming the variable', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', 'serve'], {
    env: { ...process.env, ROSTER_PORT: 'eighty' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(stderr, /ROSTER_PORT/);
});
