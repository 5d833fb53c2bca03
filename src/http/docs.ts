/**
 * The user documentation, docs/*.md and docs/idp/*.md, served read-only at /docs/ by Roster
 * itself: an administrator reads the documentation of the version that runs, on the same
 * host, and /ServiceProviderConfig's documentationUri (RFC 7643 §5) names a page that exists.
 *
 * Public, like the SCIM discovery documents' shapes: the files hold no data, only what every
 * instance of this version does. Only the files found at start are served, by name, from
 * memory: no path a client sends is ever joined to a directory, so `..` or an encoded slash
 * reaches nothing. Served as text/markdown with nosniff (security-headers.ts): a browser shows
 * the text, never renders it. Images (docs/images/) are not served.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the documentation is served. */
export const DOCS_PREFIX = '/docs/';

/** Where the files are: docs/ beside src/ (and beside dist/, which has the same depth). */
const DOCS_DIRECTORY = new URL('../../docs/', import.meta.url);

/** The subdirectories of docs/ whose pages are served too. */
const SUBDIRECTORIES = ['idp'];

const MARKDOWN = 'text/markdown; charset=utf-8';

/** The served pages by name relative to docs/ (`scim.md`, `idp/okta.md`). */
export type Documents = ReadonlyMap<string, Buffer>;

/** The Markdown files of one directory, by name; none when it does not exist (an install without docs). */
function markdownFiles(directory: URL, prefix: string): [string, Buffer][] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.md'))
    .map((entry) => [`${prefix}${entry.name}`, readFileSync(new URL(entry.name, directory))]);
}

/** Reads the pages once, at start. */
export function loadDocuments(directory: URL = DOCS_DIRECTORY): Documents {
  return new Map([
    ...markdownFiles(directory, ''),
    ...SUBDIRECTORIES.flatMap((name) => markdownFiles(new URL(`${name}/`, directory), `${name}/`)),
  ]);
}

/** The URL of the SCIM endpoint's documentation, when this installation has it. */
export function scimDocumentationUrl(baseUrl: string, documents: Documents): string | undefined {
  return documents.has('scim.md') ? `${baseUrl}${DOCS_PREFIX}scim.md` : undefined;
}

/** Sends one page, or the 404 of a path nothing answers. */
function sendPage(reply: FastifyReply, documents: Documents, name: string) {
  const page = documents.get(name);
  if (page === undefined) return reply.callNotFound();
  // Pages change with upgrades only: caches may keep them, and check again before use.
  return reply.type(MARKDOWN).header('cache-control', 'no-cache').send(page);
}

/** Registers GET /docs/<page> and /docs/idp/<page>, without authentication. */
export function docsRoutes(app: FastifyInstance, documents: Documents): void {
  app.get<{ Params: { page: string } }>(`${DOCS_PREFIX}:page`, async (request, reply) => sendPage(reply, documents, request.params.page));
  for (const subdirectory of SUBDIRECTORIES) {
    app.get<{ Params: { page: string } }>(`${DOCS_PREFIX}${subdirectory}/:page`, async (request, reply) =>
      sendPage(reply, documents, `${subdirectory}/${request.params.page}`),
    );
  }
}
