/** `GET /api/v2/audit-logs`: the audit trail, filtered and paged. */
import type { FastifyInstance } from 'fastify';
import { AUDIT_TARGET_TYPES, parseEventFilter, type AuditLog } from '../../../directory/audit-log.ts';
import { rejected } from '../../../directory/errors.ts';
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
    actor: { type: 'string', description: '`token:<name>`, `session:<login>`, `saml:<login>`, `cli` or `system`.' },
    actorUser: { type: ['string', 'null'], description: 'The login of the user behind the actor.' },
    action: { type: 'string', examples: ['user.created', 'membership.removed', 'saml.sign_in_refused'] },
    targetType: { type: 'string' },
    targetId: { type: ['string', 'null'] },
    details: { description: 'Before and after, or what an action did; never secrets. Texts are cut to 500 characters.' },
  },
};

/** Registers the audit-log route. */
export function auditLogRoutes(app: FastifyInstance, auditLog: AuditLog): void {
  app.get<{ Querystring: Query }>('/api/v2/audit-logs', {
    schema: {
      operationId: 'listAuditLogs',
      summary: 'Read the audit trail, filtered and paged',
      tags: [TAGS.audit],
      querystring: pagedQuery({
        from: { type: 'string', description: 'Inclusive lower bound, ISO 8601 (2025-01-31 or 2025-01-31T12:00:00Z).' },
        to: { type: 'string', description: 'Exclusive upper bound, ISO 8601.' },
        actor: { type: 'string', description: 'Matches actor or actorUser.' },
        targetType: { type: 'string', enum: [...AUDIT_TARGET_TYPES] },
        targetId: { type: 'string', description: 'An internal id, or a membership id.' },
        sort: { type: 'string', enum: ['-seq', 'seq'], default: '-seq', description: 'Newest first (-seq) or oldest first.' },
      }),
      response: { 200: listOf('auditLogs', AUDIT_LOG_ENTRY, 'A page of the audit trail.') },
    },
  }, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const sort = optionalString(query, 'sort') ?? '-seq';
    if (sort !== 'seq' && sort !== '-seq') throw rejected('sort', sort, 'must be seq (oldest first) or -seq (newest first)');
    const result = await auditLog.list(parseEventFilter(query), { ...paging, ascending: sort === 'seq' });
    return { auditLogs: result.events, page: pageInfo(paging, result.total) };
  });
}
