/**
 * Console addresses that only take a form (POST): `/admin/scim/tokens`, `/admin/groups/<id>/members`,
 * `/account/password`, `/admin/authentication/saml/metadata` … A browser asks for one with a GET
 * when the address bar holds it: the answer to a refused form is a page at the form's address, so
 * reloading that page, or signing in again after the session ended while it was shown (the
 * sign-in returns to the form's Referer, which is then that address), answered 404 "Page not
 * found". Each such address answers a GET with a redirect (303) to the page that holds its form:
 * its nearest parent address that is a page (`/admin/scim`, `/admin/groups/<id>`, `/account`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where the forms of the console are posted from. */
export interface FormPages {
  /** The page that holds the forms posted to `path` (a path on Roster): `path` when it is a page, else its nearest parent that is one. */
  pageOf(path: string): string;
  /** Gives every address of the scope that only takes a form its redirecting GET; call once every route is registered. */
  redirectFormAddresses(): void;
}

/** Any host: paths are resolved against it, and only paths are kept. */
const NOWHERE = 'http://roster.invalid';

/**
 * `raw` as one clean absolute path, without its query: duplicate slashes and backslashes (which
 * the router ignores, and browsers read as the start of another host's address: `//evil.example`)
 * made single slashes, dot segments resolved, what needs it percent-encoded.
 */
function cleanPath(raw: string): string {
  const path = raw.split(/[?#]/, 1)[0] ?? '';
  const url = new URL(`/${path.replace(/[/\\]+/g, '/').replace(/^\//, '')}`, NOWHERE);
  return url.origin === NOWHERE ? url.pathname : '/';
}

/** The path without its last segment (`/` has none). */
function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  return cut <= 0 ? '/' : trimmed.slice(0, cut);
}

/** A route's path as a pattern of the paths it serves (`:id`: one segment), matched as the router does: any case, a trailing slash or not. */
function patternOf(url: string): RegExp {
  const segments = url.split('/').map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${segments.join('/')}/?$`, 'i');
}

/** Starts watching the scope's routes for addresses that only take forms: call before registering them. */
export function formPages(app: FastifyInstance): FormPages {
  const posted: string[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.includes('POST')) posted.push(route.url);
  });

  const formOnly: RegExp[] = [];
  // A page: a GET route (the router's own matching), other than the redirects below.
  const isPage = (path: string): boolean => app.findRoute({ method: 'GET', url: path }) !== null && !formOnly.some((pattern) => pattern.test(path));
  const nearestPage = (path: string): string => {
    let page = path;
    while (page !== '/' && !isPage(page)) page = parentOf(page);
    return page;
  };
  // From the parent on: the address asked for is no page, and each redirect leads to a shorter
  // path, so none goes round in circles (whatever spelling the router read and the pattern did not).
  const toFormPage = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => reply.redirect(nearestPage(parentOf(cleanPath(request.url))), 303);

  return {
    pageOf: (path) => nearestPage(cleanPath(path)),
    redirectFormAddresses() {
      for (const url of new Set(posted)) {
        if (app.hasRoute({ method: 'GET', url })) continue;
        formOnly.push(patternOf(url));
        // Public: the page it leads to says who may see it (and sends a signed-out visitor to sign in).
        app.get(url, { config: { access: 'public' } }, toFormPage);
      }
    },
  };
}
