/** `GET /api/v2/audit-logs`: the audit trail, filtered and paged; `/export`: all of it, streamed. */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { parseEventFilter, parseExportFormat, type AuditLog } from '../../../directory/audit-log.ts';
import { rejected } from '../../../directory/errors.ts';
import { optionalString, pageInfo, parsePaging, type Query } from './common.ts';

const CONTENT_TYPES = { csv: 'text/csv; charset=utf-8', jsonl: 'application/x-ndjson; charset=utf-8' } as const;

/** Registers the audit-log routes. */
export function auditLogRoutes(app: FastifyInstance, auditLog: AuditLog): void {
  app.get<{ Querystring: Query }>('/api/v2/audit-logs', async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const sort = optionalString(query, 'sort') ?? '-seq';
    if (sort !== 'seq' && sort !== '-seq') throw rejected('sort', sort, 'must be seq (oldest first) or -seq (newest first)');
    const cursor = optionalString(query, 'cursor');
    const result = await auditLog.list(parseEventFilter(query), { ...paging, ascending: sort === 'seq', ...(cursor !== undefined ? { cursor } : {}) });
    return { auditLogs: result.events, page: { ...pageInfo(paging, result.total), next: result.next } };
  });

  // The same filters, every matching event oldest first, as a download. Streamed: each batch
  // is read from the database when the client has taken the previous one.
  app.get<{ Querystring: Query }>('/api/v2/audit-logs/export', async (request, reply) => {
    const format = parseExportFormat(optionalString(request.query, 'format'));
    const filter = parseEventFilter(request.query);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const lines = Readable.from(auditLog.exportLines(filter, format));
    // Headers are sent with the first line: a database failure after that can only cut the
    // download short, so it is logged here.
    lines.on('error', (error) => request.log.error({ err: error }, 'audit-log export failed part-way'));
    return reply
      .header('content-type', CONTENT_TYPES[format])
      .header('content-disposition', `attachment; filename="roster-audit-${stamp}.${format}"`)
      .header('cache-control', 'no-store')
      .send(lines);
  });
}
