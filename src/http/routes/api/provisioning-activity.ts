/** `GET /api/v2/provisioning-activity`: the SCIM requests the identity provider made, newest first. */
import type { FastifyInstance } from 'fastify';
import type { ProvisioningActivity } from '../../../directory/activity.ts';
import { rejected } from '../../../errors.ts';
import { TAGS } from '../../api-docs.ts';
import { listOf, optionalString, pageInfo, pagedQuery, parsePaging, type NamedSchema, type Query } from './common.ts';

/** One SCIM request of the identity provider, as recorded (never bodies nor secrets). */
export const ACTIVITY_ENTRY: NamedSchema = {
  $id: 'ProvisioningActivityEntry',
  type: 'object',
  required: ['id', 'at', 'method', 'path', 'filter', 'status', 'durationMs', 'tokenId', 'tokenName', 'tokenUser', 'source', 'scimType', 'detail', 'count'],
  properties: {
    id: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    method: { type: 'string' },
    path: { type: 'string', description: 'The routed path, without the query string.' },
    filter: { type: ['string', 'null'], description: 'The `filter` query parameter, cut to 200 characters.' },
    status: { type: 'integer' },
    durationMs: { type: 'number' },
    tokenId: { type: ['string', 'null'] },
    tokenName: { type: ['string', 'null'] },
    tokenUser: { type: ['string', 'null'], description: "Login of the token's user." },
    source: { type: ['string', 'null'], description: 'Client address (IPv6 by /64) of requests without a valid token; null on the overflow entry.' },
    scimType: { type: ['string', 'null'] },
    detail: { type: ['string', 'null'], description: 'The SCIM error detail the client was sent, cut to 500 characters.' },
    count: { type: 'integer', minimum: 1, description: 'Requests this entry stands for: more than 1 for folded requests without a valid token.' },
  },
};

/** Registers the provisioning-activity route. */
export function provisioningActivityRoutes(app: FastifyInstance, activity: ProvisioningActivity): void {
  app.get<{ Querystring: Query }>('/api/v2/provisioning-activity', {
    schema: {
      operationId: 'listProvisioningActivity',
      summary: "The identity provider's SCIM requests, newest first",
      tags: [TAGS.provisioning],
      querystring: pagedQuery({
        status: { type: 'string', enum: ['all', 'failures'], default: 'all', description: 'failures: status 400 and above.' },
        cursor: { type: 'string', description: "The previous answer's `page.next` (pageIndex is then only echoed)." },
      }),
      response: { 200: listOf('requests', ACTIVITY_ENTRY, 'A page of recorded SCIM requests.') },
    },
  }, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const status = optionalString(query, 'status') ?? 'all';
    if (status !== 'all' && status !== 'failures') throw rejected('status', status, 'must be all or failures');
    const cursor = optionalString(query, 'cursor');
    const page = await activity.list({
      failuresOnly: status === 'failures',
      limit: paging.limit,
      offset: paging.offset,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    return { requests: page.requests, page: { ...pageInfo(paging, page.total), next: page.next } };
  });
}
