/**
 * The yardstick of the load benchmark (bench/load.ts): a bare Fastify route answering a fixed
 * JSON document of about 600 bytes, without logging. Prints its address on stdout.
 */
import Fastify from 'fastify';

const DOCUMENT = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  id: '0190d1c2-7a5e-7c3b-9f2e-4b1a2c3d4e5f',
  externalId: 'ext-12345',
  userName: 'user12345@bench.example',
  name: { givenName: 'Given12345', familyName: 'Family12345', formatted: 'Given12345 Family12345' },
  displayName: 'Given12345 Family12345',
  title: 'Title 45',
  active: true,
  emails: [{ value: 'user12345@bench.example', type: 'work', primary: true }],
  meta: {
    resourceType: 'User',
    created: '2026-01-01T03:25:45.000Z',
    lastModified: '2026-01-01T03:25:45.000Z',
    version: 'W/"1"',
    location: 'http://127.0.0.1:8080/api/scim/v2/Users/0190d1c2-7a5e-7c3b-9f2e-4b1a2c3d4e5f',
  },
};

const app = Fastify({ logger: false });
app.get('/', async () => DOCUMENT);
const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${address}\n`);
process.once('SIGTERM', () => void app.close());
