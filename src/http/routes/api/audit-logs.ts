/** `GET /api/v2/audit-logs`: the audit trail, filtered and paged. */
import type { FastifyInstance } from 'fastify';
import { parseEventFilter, type AuditLog } from '../../../directory/audit-log.ts';
import { rejected } from '../../../directory/errors.ts';
import { optionalString, pageInfo, parsePaging, type Query } from './common.ts';

/** Registers the audit-log route. */
export function auditLogRoutes(app: FastifyInstance, auditLog: AuditLog): void {
  app.get<{ Querystring: Query }>('/api/v2/audit-logs', async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const sort = optionalString(query, 'sort') ?? '-seq';
    if (sort !== 'seq' && sort !== '-seq') throw rejected('sort', sort, 'must be seq (oldest first) or -seq (newest first)');
    const result = await auditLog.list(parseEventFilter(query), { ...paging, ascending: sort === 'seq' });
    return { auditLogs: result.events, page: pageInfo(paging, result.total) };
  });
}
