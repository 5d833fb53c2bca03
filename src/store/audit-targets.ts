/**
 * The current names of what audit entries are about, for the audit log's page: a user's login, a
 * group's name, an application's name, a token's name, a webhook's URL. One statement per kind,
 * for the ids of one page at most (50), each found by its primary key; an id no row has any more
 * is simply not in the answer. A revoked token keeps its row, and so its name.
 */
import type { Executor } from './executor.ts';

/** The ids of one page's targets, by kind. */
export interface TargetIds {
  readonly user: readonly string[];
  readonly group: readonly string[];
  readonly application: readonly string[];
  readonly token: readonly string[];
  readonly webhook: readonly string[];
}

/** `${kind}:${id}` → the target's current name (a webhook's whole URL), for those that still exist. */
export async function currentTargetNames(db: Executor, ids: TargetIds): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const [users, groups, applications, tokens, webhooks] = await Promise.all([
    ids.user.length === 0 ? [] : db.selectFrom('users').select(['id', 'login']).where('id', 'in', ids.user).execute(),
    ids.group.length === 0 ? [] : db.selectFrom('groups').select(['id', 'name']).where('id', 'in', ids.group).execute(),
    ids.application.length === 0 ? [] : db.selectFrom('oidc_applications').select(['client_id', 'name']).where('client_id', 'in', ids.application).execute(),
    ids.token.length === 0 ? [] : db.selectFrom('tokens').select(['id', 'name']).where('id', 'in', ids.token).execute(),
    ids.webhook.length === 0 ? [] : db.selectFrom('webhooks').select(['id', 'url']).where('id', 'in', ids.webhook).execute(),
  ]);
  for (const row of users) names.set(`user:${row.id}`, row.login);
  for (const row of groups) names.set(`group:${row.id}`, row.name);
  for (const row of applications) names.set(`application:${row.client_id}`, row.name);
  for (const row of tokens) names.set(`token:${row.id}`, row.name);
  for (const row of webhooks) names.set(`webhook:${row.id}`, row.url);
  return names;
}
