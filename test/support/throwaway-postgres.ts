/**
 * A PostgreSQL server of the test's own, to stop and start at will (never the shared cluster
 * other tests use): initdb into a temporary directory, a free port, pg_ctl. As root the server
 * runs as the `postgres` user (PostgreSQL refuses to run as root). `throwawayPostgresSkip()`
 * says why a test cannot have one.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process.ts';

/** The newest installed PostgreSQL's bin directory (Debian layout), or undefined. */
function binDirectory(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

const isRoot = process.getuid?.() === 0;

/** The uid of the `postgres` user, or undefined. */
function postgresUid(): number | undefined {
  try {
    return Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

/** Why this machine cannot run a throwaway PostgreSQL server, or undefined when it can. */
export function throwawayPostgresSkip(): string | undefined {
  if (binDirectory() === undefined) return 'no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/<version>/bin: install postgresql to run it';
  if (isRoot && postgresUid() === undefined) return 'running as root without a postgres user to run the server as';
  return undefined;
}

export interface ThrowawayPostgres {
  /** postgres://roster@127.0.0.1:<port>/roster */
  readonly url: string;
  readonly port: number;
  /** pg_ctl stop: `fast` ends sessions (SQLSTATE 57P01), `immediate` cuts them as a crash would. */
  stop(mode?: 'fast' | 'immediate'): void;
  /** pg_ctl start, waiting until it accepts connections. */
  start(): void;
  /** Stops the server (if running) and deletes its files. */
  destroy(): void;
}

/** Creates and starts a new cluster with a database `roster` owned by the trusted user `roster`. */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = binDirectory();
  if (bin === undefined) throw new Error(throwawayPostgresSkip());
  const directory = mkdtempSync(join(tmpdir(), 'roster-pg-'));
  const data = join(directory, 'data');
  const log = join(directory, 'server.log');
  chmodSync(directory, 0o755);
  const uid = isRoot ? postgresUid() : undefined;
  if (uid !== undefined) chownSync(directory, uid, uid);
  const run = (program: string, args: string[]): void => {
    const command = isRoot ? 'runuser' : join(bin, program);
    const commandArgs = isRoot ? ['-u', 'postgres', '--', join(bin, program), ...args] : args;
    execFileSync(command, commandArgs, { stdio: 'pipe', cwd: directory });
  };
  const port = await freePort();
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'roster', '--no-sync', '-E', 'UTF8', '--locale=C']);
  // Sockets in the cluster's own directory: no collision with the system's /var/run/postgresql.
  const options = `-p ${port} -k ${directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  let running = false;
  const server: ThrowawayPostgres = {
    url: `postgres://roster@127.0.0.1:${port}/roster`,
    port,
    start() {
      run('pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '30', 'start']);
      running = true;
    },
    stop(mode = 'fast') {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
      running = false;
    },
    destroy() {
      try {
        if (running) server.stop('immediate');
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
  };
  server.start();
  run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'roster', 'roster']);
  return server;
}
