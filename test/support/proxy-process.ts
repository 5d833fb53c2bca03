/**
 * A real reverse proxy (Debian's nginx or Caddy) run by a forward-auth test: started on a
 * loopback port with a configuration in its own folder, waited for until it answers, stopped
 * and its folder removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface ProxyProcess {
  readonly base: string;
  readonly process: ChildProcess;
  readonly dir: string;
  output: string;
}

/**
 * Runs `command args` (its configuration already written in `dir`) and resolves once it answers
 * on `port`; fails within 15 s with its output (and `diagnostics()`, e.g. an error log) if not.
 */
export async function startProxyProcess(options: {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly diagnostics?: () => string;
}): Promise<ProxyProcess> {
  const child = spawn(options.command, [...options.args], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env !== undefined ? { env: options.env } : {}) });
  const proxy: ProxyProcess = { base: `http://127.0.0.1:${options.port}`, process: child, dir: options.dir, output: '' };
  child.stdout?.on('data', (chunk: Buffer) => (proxy.output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (proxy.output += chunk.toString()));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      await fetch(`${proxy.base}/_ready`, { redirect: 'manual' });
      return proxy;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  child.kill('SIGTERM');
  throw new Error(`${options.name} did not start:\n${proxy.output}\n${options.diagnostics?.() ?? ''}`);
}

/** Stops the proxy and removes its folder. */
export async function stopProxyProcess(proxy: ProxyProcess): Promise<void> {
  if (proxy.process.exitCode === null) {
    const exited = new Promise((resolve) => proxy.process.once('exit', resolve));
    proxy.process.kill('SIGTERM');
    await exited;
  }
  rmSync(proxy.dir, { recursive: true, force: true });
}
