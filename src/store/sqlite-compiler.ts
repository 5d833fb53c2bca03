import { SqliteQueryCompiler, type LimitNode } from 'kysely';

/**
 * Writes `LIMIT ?` as `LIMIT (? + 0)`. SQLite's planner reads the value bound to a bare `LIMIT ?`
 * and so marks the statement to be compiled again whenever that parameter is bound: every
 * execution of a kept statement with a limit was recompiled, which cost a filtered list about
 * five times its own work (docs/performance.md). An expression is not read by the planner, and
 * means the same: the limit is still that integer, and a negative one still means no limit.
 */
export class RosterSqliteQueryCompiler extends SqliteQueryCompiler {
  protected override visitLimit(node: LimitNode): void {
    this.append('limit (');
    this.visitNode(node.limit);
    this.append(' + 0)');
  }
}
