/** GET /saml/metadata: our SP metadata, to upload to (or fetch from) the IdP. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { messagePage } from './pages.ts';
import { sendHtml } from './common.ts';

/** Registers GET /saml/metadata. */
export function metadataRoute(app: FastifyInstance, services: Services): void {
  app.get('/saml/metadata', async (_request, reply) => {
    const xml = await services.samlSp.metadata();
    if (xml === undefined) return sendHtml(reply, 404, messagePage('SAML is not configured', 'Configure SAML first: npm run roster -- saml configure …'));
    return reply.type('application/samlmetadata+xml; charset=utf-8').send(xml);
  });
}
