/**
 * The console's static files, shipped in ./assets/ and served by Roster itself (no CDN, no
 * build step): one stylesheet, one small script, the icon. Each URL carries a hash of the
 * file, so browsers may cache it for a year and still get a new version at once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly version: string;
}

/** The files under ./assets/ that are served, by name. */
const FILES: Readonly<Record<string, string>> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

const ASSETS: ReadonlyMap<string, Asset> = new Map(
  Object.entries(FILES).map(([name, type]) => {
    const body = readFileSync(new URL(`./assets/${name}`, import.meta.url));
    return [name, { body, type, version: createHash('sha256').update(body).digest('hex').slice(0, 12) }];
  }),
);

/** Where the console serves its files. */
export const ASSETS_PREFIX = '/assets/';

/** The URL of an asset, with its version: `assetUrl('console.css')`. */
export function assetUrl(name: keyof typeof FILES & string): string {
  const asset = ASSETS.get(name);
  if (asset === undefined) throw new Error(`unknown console asset ${name}`);
  return `${ASSETS_PREFIX}${name}?v=${asset.version}`;
}

/** Registers GET /assets/:name, and /favicon.ico. */
export function assetRoutes(app: FastifyInstance): void {
  // Browsers ask for /favicon.ico on pages that name no icon (the OpenID provider's sign-out
  // question, JSON answers opened in a tab): the console's icon, rather than a 404 in their console.
  app.get('/favicon.ico', { config: { access: 'public' } }, async (_request, reply) => {
    const icon = ASSETS.get('favicon.svg');
    if (icon === undefined) return reply.callNotFound();
    return reply.header('cache-control', 'public, max-age=86400').header('etag', `"${icon.version}"`).type(icon.type).send(icon.body);
  });

  app.get<{ Params: { name: string }; Querystring: { v?: string } }>(`${ASSETS_PREFIX}:name`, { config: { access: 'public' } }, async (request, reply) => {
    const asset = ASSETS.get(request.params.name);
    if (asset === undefined) return reply.callNotFound();
    // Only the current version may be cached for good: an old page asking for an old version
    // gets the current file, revalidated next time.
    const immutable = request.query.v === asset.version;
    return reply
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('etag', `"${asset.version}"`)
      .type(asset.type)
      .send(asset.body);
  });
}
