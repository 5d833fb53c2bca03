/**
 * Names that are equal regardless of case but belong to several users or groups: left behind
 * by migration 011, when uniqueness moved from SQLite's ASCII-only lower() to Unicode case keys
 * (text.ts caseKey). Nothing new can join them; an administrator resolves each by renaming (or
 * deleting) all but one. Reported at start-up, by `roster db case-conflicts`, and in the audit
 * trail (`user.name_conflict`, `group.name_conflict`).
 */
import type { Store } from '../store/index.ts';
import { createGroupQueries } from '../store/groups.ts';
import { createUserQueries } from '../store/users.ts';

/** One set of users or groups whose names share a case key. */
export interface CaseConflict {
  readonly kind: 'user' | 'group';
  /** The shared key (text.ts caseKey). */
  readonly key: string;
  /** Oldest first: the first keeps the name for lookups that do not spell it exactly. */
  readonly members: readonly { readonly id: string; readonly name: string; readonly managed: boolean }[];
}

/** The conflicts service: closure over the store. */
export function createCaseConflicts(store: Store) {
  const users = createUserQueries(store.dialect);
  const groups = createGroupQueries(store.dialect);

  return {
    /** Every set still in conflict, users first. Reads only the rows migration 011 marked (an index). */
    async list(): Promise<CaseConflict[]> {
      const conflicts: CaseConflict[] = [];
      const collect = (kind: 'user' | 'group', rows: readonly { id: string; key: string; name: string; managed: boolean }[]) => {
        for (const row of rows) {
          const last = conflicts[conflicts.length - 1];
          const member = { id: row.id, name: row.name, managed: row.managed };
          if (last !== undefined && last.kind === kind && last.key === row.key) (last.members as (typeof member)[]).push(member);
          else conflicts.push({ kind, key: row.key, members: [member] });
        }
      };
      // Sorted here, in code-point order: the databases' own collations would order keys differently.
      const byKey = <T extends { key: string; conflict: number }>(rows: T[]) =>
        rows.sort((a, b) => (a.key === b.key ? a.conflict - b.conflict : a.key < b.key ? -1 : 1));
      collect('user', byKey((await users.loginConflicts(store.db)).map((row) => ({ ...row, name: row.login }))));
      collect('group', byKey(await groups.nameConflicts(store.db)));
      return conflicts;
    },
  };
}

/** One line per conflict set, for logs and the CLI. */
export function describeCaseConflict(conflict: CaseConflict): string {
  const names = conflict.members.map((member) => `"${member.name}" (id ${member.id}${member.managed ? ', managed' : ''})`).join(', ');
  return `${conflict.kind === 'user' ? 'users' : 'groups'} ${names} have the same name regardless of case`;
}

export type CaseConflicts = ReturnType<typeof createCaseConflicts>;
