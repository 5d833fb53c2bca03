/**
 * GET /api/v2/audit-logs/export of a large log lets the server answer other requests while it
 * runs: each batch of a thousand events is followed by a turn of the event loop. On SQLite every
 * read answers at once (better-sqlite3 is synchronous), so without the turn an export read by a
 * fast client (curl, in its own process) held /healthz until the export's last byte.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { captureLog, type LogCapture } from '../support/log-capture.ts';

const ENTRIES = 20_000;
/** The stall deadline of this suite's server (60 s in production). */
const STALL_MS = 2000;

/**
 * A client in a process of its own, reading the export as fast as it arrives: at its first
 * bytes it asks /healthz, and it says whether that answer came while the export was still
 * arriving, and how many lines the export had.
 */
const CLIENT = `
const http = require('node:http');
const [exportUrl, healthUrl, token] = process.argv.slice(1);
let lines = 0, exportEnded = false, asked = false, healthz;
const report = () => { if (exportEnded && healthz !== undefined) console.log(JSON.stringify({ lines, ...healthz })); };
http.get(exportUrl, { headers: { authorization: 'Bearer ' + token } }, (response) => {
  response.on('data', (piece) => {
    for (const byte of piece) if (byte === 10) lines += 1;
    if (asked) return;
    asked = true;
    http.get(healthUrl, (answer) => {
      answer.resume();
      answer.on('end', () => { healthz = { status: answer.statusCode, duringExport: !exportEnded }; report(); });
    });
  });
  response.on('end', () => { exportEnded = true; report(); });
});
`;

function readExport(base: string, token: string): Promise<{ lines: number; status: number; duringExport: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CLIENT, `${base}/api/v2/audit-logs/export`, `${base}/healthz`, token], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (piece: Buffer) => (output += piece.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(output) as { lines: number; status: number; duringExport: boolean }) : reject(new Error(`client exited ${code}: ${output}`))));
  });
}

eachDatabase('GET /api/v2/audit-logs/export of a large log', (database) => {
  let roster: TestApp;
  let base: string;
  let log: LogCapture;
  before(async () => {
    log = captureLog();
    roster = await startTestApp({ database, scim: false, logger: { level: 'info', stream: log.stream }, app: { streamStallMs: STALL_MS } });
    const at = new Date().toISOString();
    for (let start = 0; start < ENTRIES; start += 1000) {
      const rows = Array.from({ length: 1000 }, (_, i) => ({
        at,
        actor: 'cli',
        actor_user: null,
        action: 'user.updated',
        target_type: 'user',
        target_id: `user-${start + i}`,
        details: JSON.stringify({ login: `user-${start + i}@example.com`, changed: ['displayName'] }),
      }));
      await roster.services.store.db.insertInto('audit_events').values(rows).execute();
    }
    base = await roster.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => roster.close());

  test(`a /healthz asked while ${ENTRIES.toLocaleString('en')} events are being exported is answered before the export ends`, async () => {
    const total = (await roster.request('GET', '/api/v2/audit-logs?limit=1')).body.page.total as number;
    assert.ok(total >= ENTRIES, String(total));
    const seen = await readExport(base, roster.token);
    assert.equal(seen.lines, total, 'the whole log, one line an event');
    assert.equal(seen.status, 200);
    assert.equal(seen.duringExport, true, '/healthz waited for the whole export');
  });

  test('downloads whose clients stop reading hold no database connection: more of them than the pool leave the API answering', async () => {
    // Each client reads the headers, then nothing (a paused browser download, a stalled link).
    // A download held a PostgreSQL connection in an open transaction until its last byte, so
    // as many stalled ones as the pool (10) made every other request wait, then fail with 503.
    const stalled: ClientRequest[] = [];
    try {
      await Promise.all(
        Array.from({ length: 12 }, () =>
          new Promise<void>((resolve, reject) => {
            const asked = httpRequest(`${base}/api/v2/audit-logs/export`, { headers: { authorization: `Bearer ${roster.token}` } }, (response) => {
              response.pause();
              resolve();
            });
            asked.on('error', reject);
            asked.end();
            stalled.push(asked);
          }),
        ),
      );
      // Time for the server to fill the sockets' buffers and stop, waiting for the clients.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const answered = await fetch(`${base}/api/v2/audit-logs?pageSize=1`, { headers: { authorization: `Bearer ${roster.token}` }, signal: AbortSignal.timeout(8000) });
      assert.equal(answered.status, 200);
      assert.equal(((await answered.json()) as { auditLogs: unknown[] }).auditLogs.length, 1);
    } finally {
      for (const asked of stalled) asked.destroy();
    }
  });

  test('a download whose client stops reading is cut at the stall deadline, with a warning: it held its slot of the admission limit for as long as it stalled', async () => {
    // More than the sockets' buffers take (the log so far fits in them: the server is done with
    // it before the client reads a byte): 40,000 more entries of about a kilobyte.
    const details = JSON.stringify({ note: 'x'.repeat(1000) });
    const at = new Date().toISOString();
    for (let start = 0; start < 40_000; start += 1000) {
      await roster.services.store.db.insertInto('audit_events').values(Array.from({ length: 1000 }, (_, i) => ({ at, actor: 'cli', actor_user: null, action: 'setting.changed', target_type: 'setting', target_id: `bulk-${start + i}`, details }))).execute();
    }
    const warned = () => log.lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level === 40 && line.msg.includes('stopped reading an audit export')).length;
    const before = warned();
    let response: IncomingMessage | undefined;
    const asked = httpRequest(`${base}/api/v2/audit-logs/export`, { headers: { authorization: `Bearer ${roster.token}` } }, (answer) => {
      answer.pause();
      response = answer;
    });
    asked.on('error', () => {});
    asked.end();
    try {
      const started = Date.now();
      // The server's side (a paused client sees nothing until it reads again): its warning.
      while (warned() === before && Date.now() - started < 15_000) await new Promise((resolve) => setTimeout(resolve, 50));
      const waited = Date.now() - started;
      assert.equal(warned(), before + 1, 'one warning that the client stopped reading');
      assert.ok(waited >= STALL_MS - 500 && waited < STALL_MS + 1400, `cut after ${waited} ms`);
      // Reading again, the client finds the download cut short.
      assert.ok(response !== undefined);
      const cut = await new Promise<boolean>((resolve) => {
        response!.on('data', () => {});
        response!.once('end', () => resolve(!response!.complete));
        response!.once('error', () => resolve(true));
        response!.once('aborted', () => resolve(true));
        response!.resume();
      });
      assert.equal(cut, true, 'the download ended as if complete');
    } finally {
      asked.destroy();
    }
  });
});
