/**
 * A SCIM user's `meta.version` (its ETag) and `meta.lastModified`, as SQL: RFC 7644 §3.14 wants
 * the version to change whenever what GET returns changes, and a user's GET shows its groups
 * (their ids and names), which other resources' writes change. The same expressions serve the
 * reads and the filters (`meta.version eq`, `meta.lastModified gt`), so that both always agree.
 *
 * Nothing is rewritten on the user's rows when a group changes, however many members it has:
 *
 * - the user's own writes bump `users.version` and `users.updated_at`;
 * - joining or leaving a group bumps the user's row in `user_membership_changes` (the store's
 *   membership functions do it, in the same transaction, at a cost that follows the members
 *   changed);
 * - renaming a group, or linking it to SCIM (it then appears in its members' `groups`), bumps
 *   its `name_version` and `name_changed_at`, which users read through their memberships when
 *   they are read: a few rows, by index. Local groups count too, though users do not show
 *   them: a harmless extra change, and it saves joining scim_groups on every read.
 *
 * The version is the three counters `own.memberships.groupNames`, the last being the sum of the
 * name versions of the user's groups. No value repeats with different content: own writes and
 * membership changes only ever count up, and while both stand still the user's groups are the
 * same ones, whose name versions only count up (linking included), so their sum does too.
 *
 * A user with a `manager` (enterprise extension) shows its manager's display name, so its
 * version has a fourth counter: the manager's own version (`users.version`), 0 once the manager
 * is gone. It moves with any write of the manager (a harmless extra change of the ETag), and
 * from 0 it never comes back up: SCIM ids are never reused. `meta.lastModified` does not follow
 * the manager: delta-sync filters must stay on indexes, and finding the users a manager manages
 * would need one on the JSON document.
 *
 * These are correlated subqueries: evaluate them for the rows returned, never for rows a list
 * skips or sorts (users.ts listLinked).
 *
 * A group's `members` show each member's display name, so a group's version is its own
 * `groups.version`, bumped (`touch`) when its members change or one of them changes display.
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { ENTERPRISE_USER_SCHEMA } from '../scim/schemas.ts';
import type { DialectAdapter } from './dialect.ts';

/** The SCIM id a user's enterprise `manager.value` names, as SQL (NULL when it has none). */
export function managerValue(dialect: DialectAdapter, user: string): RawBuilder<string | null> {
  return dialect.jsonText(sql.ref(`${user}.scim_data`), [ENTERPRISE_USER_SCHEMA, 'manager', 'value']);
}

/**
 * A column of the group of membership `rv_m`, by primary key. A subquery per membership rather
 * than a join: PostgreSQL would hash-join a small groups table with a scan for every user read.
 */
function ofGroup(column: 'name_version' | 'name_changed_at'): RawBuilder<unknown> {
  return sql`(SELECT rv_g.${sql.raw(column)} FROM groups AS rv_g WHERE rv_g.id = rv_m.group_id)`;
}

/** The text of a user's `meta.version`, without the `W/"…"` of the ETag; `user` is the alias of its users row. */
export function userResourceVersion(dialect: DialectAdapter, user: string): RawBuilder<string> {
  const id = sql.ref(`${user}.id`);
  const own = sql.ref(`${user}.version`);
  const memberships = sql`(SELECT rv_c.changes FROM user_membership_changes AS rv_c WHERE rv_c.user_id = ${id})`;
  const groupNames = sql`(SELECT coalesce(sum(${ofGroup('name_version')}), 0) FROM memberships AS rv_m WHERE rv_m.user_id = ${id})`;
  // Users without a manager keep three parts, as before managers were shown.
  const manager = managerValue(dialect, user);
  const managerVersion = sql`(SELECT rv_mu.version FROM scim_users AS rv_ms JOIN users AS rv_mu ON rv_mu.id = rv_ms.user_id WHERE rv_ms.scim_id = ${manager})`;
  const managerPart = sql`(CASE WHEN ${manager} IS NULL THEN '' ELSE '.' || CAST(coalesce(${managerVersion}, 0) AS TEXT) END)`;
  return sql<string>`(CAST(${own} AS TEXT) || '.' || CAST(coalesce(${memberships}, 0) AS TEXT) || '.' || CAST(${groupNames} AS TEXT) || ${managerPart})`;
}

/**
 * A user's `meta.lastModified`: the latest of its own last write, its last membership change and
 * the last rename (or link) of one of its groups. ISO 8601 text, which compares as the instants do.
 */
export function userResourceModifiedAt(dialect: DialectAdapter, user: string): RawBuilder<string> {
  const id = sql.ref(`${user}.id`);
  const memberships = sql`coalesce((SELECT rv_c.changed_at FROM user_membership_changes AS rv_c WHERE rv_c.user_id = ${id}), '')`;
  const groupNames = sql`coalesce((SELECT max(${ofGroup('name_changed_at')}) FROM memberships AS rv_m WHERE rv_m.user_id = ${id}), '')`;
  return dialect.greatest([sql.ref(`${user}.updated_at`), memberships, groupNames]);
}

/**
 * `userResourceModifiedAt(user) > instant` (or `>=`), written so that indexes find the users:
 * one of the three parts is later, and each part has an index on its time (users.updated_at,
 * user_membership_changes.changed_at, groups.name_changed_at then the memberships' primary
 * key). UNION ALL, not UNION: IN removes duplicates anyway, and UNION would sort every user. Delta sync (`meta.lastModified gt "<last sync>"`) thus reads what changed, not every user.
 */
export function userModifiedAfter(user: string, operator: '>' | '>=', instant: string): RawBuilder<SqlBool> {
  const op = sql.raw(operator);
  return sql<SqlBool>`(${sql.ref(`${user}.id`)} IN (
    SELECT rv_u.id FROM users AS rv_u WHERE rv_u.updated_at ${op} ${instant}
    UNION ALL SELECT rv_c.user_id FROM user_membership_changes AS rv_c WHERE rv_c.changed_at ${op} ${instant}
    UNION ALL SELECT rv_m.user_id FROM groups AS rv_g
      JOIN memberships AS rv_m ON rv_m.group_id = rv_g.id
      WHERE rv_g.name_changed_at ${op} ${instant}))`;
}

/**
 * `userResourceModifiedAt(user) <= instant` (or `<`): NOT userModifiedAfter with `>` (or `>=`),
 * written per user: its own time, then whether a membership change or a rename of one of its
 * groups came later, each probed by index for the user at hand. The negated IN of
 * userModifiedAfter is not: PostgreSQL cannot hash a list of a million ids within `work_mem`, and
 * rescanned it for every user (`meta.lastModified lt` over a million users passed the 30 s
 * statement deadline; 1.7 s this way).
 */
export function userNotModifiedAfter(user: string, operator: '>' | '>=', instant: string): RawBuilder<SqlBool> {
  const id = sql.ref(`${user}.id`);
  const op = sql.raw(operator);
  return sql<SqlBool>`(NOT (${sql.ref(`${user}.updated_at`)} ${op} ${instant})
    AND NOT EXISTS (SELECT 1 FROM user_membership_changes AS rv_c WHERE rv_c.user_id = ${id} AND rv_c.changed_at ${op} ${instant})
    AND NOT EXISTS (SELECT 1 FROM memberships AS rv_m JOIN groups AS rv_g ON rv_g.id = rv_m.group_id
      WHERE rv_m.user_id = ${id} AND rv_g.name_changed_at ${op} ${instant}))`;
}
