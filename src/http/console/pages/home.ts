/**
 * `GET /` sends each visitor where they belong: the sign-in page when signed out, the
 * administration console for administrators, "My account" for everyone else. `GET /admin` is
 * the administration's landing page, listing its sections.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleContext } from '../context.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';
import { ADMIN_SECTIONS, type AdminSection } from '../sections.ts';
import { SIGN_IN_PATH } from './sign-in.ts';

/** Where `GET /` sends administrators. */
export const ADMIN_HOME = '/admin/users';

/** Registers `GET /` and `GET /admin`. */
export function homePages(app: FastifyInstance, _context: ConsoleContext): void {
  app.get('/', { config: { access: 'anonymous' } }, async (request, reply) => {
    if (request.viewer === null) return reply.redirect(SIGN_IN_PATH, 302);
    return reply.redirect(request.viewer.administrator ? ADMIN_HOME : '/account', 302);
  });

  app.get('/admin', async (request, reply) =>
    sendPage(request, reply, {
      title: 'Administration',
      body: html`<p>Roster keeps the users and groups your identity provider provisions, and signs people in with SAML. Choose a section:</p>
<ul class="cards">${ADMIN_SECTIONS.map((section) => html`<li><h2><a href="${section.path}">${section.title}</a></h2><p>${section.description}</p></li>`)}</ul>
<p>Everything here can also be done with the admin API (<code>docs/api.md</code>) and the <code>roster</code> command line (<code>docs/cli.md</code>).</p>`,
    }),
  );
}

/**
 * Registers a placeholder for an administration section whose page is not built yet, so that
 * the navigation never leads to a 404. A section's own page replaces it simply by being
 * registered first (index.ts).
 */
export function sectionPlaceholder(app: FastifyInstance, section: AdminSection): void {
  app.get(section.path, async (request: FastifyRequest, reply: FastifyReply) =>
    sendPage(request, reply, {
      title: section.title,
      body: html`<p>${section.description}</p>
<p>This page of the console comes next. Until then, the same is available through the admin API (<code>docs/api.md</code>) and the <code>roster</code> command line (<code>docs/cli.md</code>).</p>
<p><a href="/admin">Back to the administration overview</a></p>`,
    }),
  );
}
