/**
 * The administration sections, in navigation order: the header's navigation, the /admin
 * landing page and the placeholders of sections not built yet all read this one list. A new
 * section is a line here plus its page module (see pages/ and index.ts).
 */

/** One section of the administration console. */
export interface AdminSection {
  /** Its URL, bookmarkable (SonarQube's /admin/... habit). */
  readonly path: string;
  readonly title: string;
  /** One sentence for the landing page. */
  readonly description: string;
}

/** Every administration section. */
export const ADMIN_SECTIONS: readonly AdminSection[] = [
  { path: '/admin/users', title: 'Users', description: 'Find users by login, name or email, see who comes from your identity provider, deactivate local users, and check why someone cannot sign in.' },
  { path: '/admin/groups', title: 'Groups', description: 'Groups and their members, including the administrators’ group.' },
  { path: '/admin/authentication', title: 'Authentication', description: 'The SAML configuration, its certificates, and the provisioning mode: just-in-time or SCIM.' },
  { path: '/admin/scim', title: 'SCIM', description: 'The SCIM base URL and the tokens of your identity provider, and what it has been calling.' },
  { path: '/admin/applications', title: 'Applications', description: 'The applications that sign their users in through Roster (OpenID Connect): their redirect URIs, secrets and allowed groups.' },
  { path: '/admin/audit', title: 'Audit log', description: 'Every change and sign-in: who, what, when.' },
  { path: '/admin/webhooks', title: 'Webhooks', description: 'Applications that receive every change as a signed request: their addresses, secrets and deliveries.' },
];

/** The section a path belongs to (`/admin/users/123` → Users), or undefined. */
export function sectionOf(path: string): AdminSection | undefined {
  return ADMIN_SECTIONS.find((section) => path === section.path || path.startsWith(`${section.path}/`));
}
