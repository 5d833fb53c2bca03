/** `GET /api/v2/audit-logs`: the audit trail, filtered and paged; `/export`: all of it, streamed. */
import { Readable } from 'node:stream';
import { takenInTime } from '../../stalls.ts';
import type { FastifyInstance } from 'fastify';
import { AUDIT_TARGET_TYPES, parseEventFilter, parseExportFormat, type AuditLog } from '../../../directory/audit-log.ts';
import { rejected } from '../../../errors.ts';
import { TAGS } from '../../api-docs.ts';
import { listOf, optionalString, pageInfo, pagedQuery, parsePaging, type NamedSchema, type Query } from './common.ts';

/** One entry of the audit trail. */
export const AUDIT_LOG_ENTRY: NamedSchema = {
  $id: 'AuditLogEntry',
  type: 'object',
  required: ['seq', 'at', 'actor', 'actorUser', 'action', 'targetType', 'targetId', 'details'],
  properties: {
    seq: { type: 'integer', description: 'Orders the log; it may have gaps.' },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string', description: '`token:<name>`, `session:<login>` (an administrator\'s browser session), `saml:<login>` (`saml` when the response named nobody), `password:<login>` (a sign-in with a password, the login as typed), `cli` or `system`.' },
    actorUser: { type: ['string', 'null'], description: 'The login of the user behind the actor.' },
    action: { type: 'string', examples: ['user.created', 'membership.removed', 'saml.sign_in_refused'] },
    targetType: { type: 'string' },
    targetId: { type: ['string', 'null'] },
    details: { description: 'Before and after, or what an action did; never secrets. Texts are cut to 500 characters.' },
  },
};

/** The filters of the list and of the export. */
const EVENT_FILTERS = {
  from: { type: 'string', description: 'Inclusive lower bound, ISO 8601 (2025-01-31 or 2025-01-31T12:00:00Z).' },
  to: { type: 'string', description: 'Exclusive upper bound, ISO 8601.' },
  actor: { type: 'string', description: 'Matches actor or actorUser.' },
  actorUser: { type: 'string', description: 'Matches actorUser only: the entries of the user with this login, none of an actor spelled the same (`cli`, `system`).' },
  action: { type: 'string', description: 'An action (`user.created`), or a prefix ending in `*` (`user.*`).' },
  targetType: { type: 'string', enum: [...AUDIT_TARGET_TYPES] },
  targetId: { type: 'string', description: 'An internal id, or a membership id.' },
} as const;

/** The Content-Type of each export format. */
const EXPORT_CONTENT_TYPES = { csv: 'text/csv; charset=utf-8', jsonl: 'application/x-ndjson; charset=utf-8' } as const;

/** `text/csv` of `text/csv; charset=utf-8`: the document names media types without parameters. */
function mediaTypeOf(contentType: string): string {
  return contentType.split(';')[0]!.trim();
}

/** Registers the audit-log routes. */
export function auditLogRoutes(app: FastifyInstance, auditLog: AuditLog): void {
  app.get<{ Querystring: Query }>('/api/v2/audit-logs', {
    schema: {
      operationId: 'listAuditLogs',
      summary: 'Read the audit trail, filtered and paged',
      tags: [TAGS.audit],
      querystring: pagedQuery({
        ...EVENT_FILTERS,
        sort: { type: 'string', enum: ['-seq', 'seq'], default: '-seq', description: 'Newest first (-seq) or oldest first.' },
        cursor: { type: 'string', description: "The previous answer's `page.next`: the next page, as cheap deep in the log as at its start (pageIndex is then ignored)." },
      }),
      response: { 200: listOf('auditLogs', AUDIT_LOG_ENTRY, 'A page of the audit trail.') },
    },
  }, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const sort = optionalString(query, 'sort') ?? '-seq';
    if (sort !== 'seq' && sort !== '-seq') throw rejected('sort', sort, 'must be seq (oldest first) or -seq (newest first)');
    const cursor = optionalString(query, 'cursor');
    const result = await auditLog.list(parseEventFilter(query), { ...paging, ascending: sort === 'seq', ...(cursor !== undefined ? { cursor } : {}) });
    return { auditLogs: result.events, page: { ...pageInfo(paging, result.total), next: result.next } };
  });

  // The same filters, every matching event oldest first, as a download. Streamed: each batch
  // is read from the database when the client has taken the previous one, with a turn of the
  // event loop between batches (auditLog.exportLines), so other requests are answered meanwhile.
  app.get<{ Querystring: Query }>('/api/v2/audit-logs/export', {
    schema: {
      operationId: 'exportAuditLogs',
      summary: 'Download the audit trail, filtered, oldest first, as CSV or JSON lines',
      tags: [TAGS.audit],
      querystring: {
        type: 'object',
        properties: {
          ...EVENT_FILTERS,
          format: { type: 'string', enum: ['jsonl', 'csv'], default: 'jsonl', description: 'JSON lines (one entry a line) or CSV with a header row.' },
        },
      },
      response: {
        200: {
          description: 'A download, streamed: JSON lines (`format=jsonl`, one AuditLogEntry a line) or CSV with a header row (`format=csv`). CSV cells that a spreadsheet would read as a formula start with a quote.',
          headers: {
            'Content-Disposition': { type: 'string', description: 'attachment; filename="roster-audit-<time>.jsonl" (or .csv).' },
            'Cache-Control': { type: 'string', const: 'no-store' },
          },
          // The answer is not JSON: each format under the media type it is sent with (EXPORT_CONTENT_TYPES).
          content: Object.fromEntries(Object.values(EXPORT_CONTENT_TYPES).map((type) => [mediaTypeOf(type), { schema: { type: 'string' } }])),
        },
      },
    },
  }, async (request, reply) => {
    const format = parseExportFormat(optionalString(request.query, 'format'));
    const filter = parseEventFilter(request.query);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // One batch in the buffer, each to be taken in time: a stalled download holds its slot of
    // the admission limit for at most STREAM_STALL_MS, not for as long as it stalls.
    const lines = Readable.from(takenInTime(auditLog.exportLines(filter, format), reply, reply.server.streamStallMs, 'an audit export'), { highWaterMark: 1 });
    // Headers are sent with the first line: a database failure after that can only cut the
    // download short, so it is logged here.
    lines.on('error', (error) => request.log.error({ err: error }, 'audit-log export failed part-way'));
    return reply
      .header('content-type', EXPORT_CONTENT_TYPES[format])
      .header('content-disposition', `attachment; filename="roster-audit-${stamp}.${format}"`)
      .header('cache-control', 'no-store')
      .send(lines);
  });
}
