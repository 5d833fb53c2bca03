/** `GET /api/v2/provisioning-activity`: the SCIM requests the identity provider made, newest first. */
import type { FastifyInstance } from 'fastify';
import type { ProvisioningActivity } from '../../../directory/activity.ts';
import { rejected } from '../../../directory/errors.ts';
import { optionalString, pageInfo, parsePaging, type Query } from './common.ts';

/** Registers the provisioning-activity route. */
export function provisioningActivityRoutes(app: FastifyInstance, activity: ProvisioningActivity): void {
  app.get<{ Querystring: Query }>('/api/v2/provisioning-activity', async (request) => {
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
