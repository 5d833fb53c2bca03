/** What the admin API routes share: SonarQube-style paging, query parameters and bodies. */
import { rejected } from '../../../directory/errors.ts';

/** `page` of a SonarQube Web API v2 list. */
export interface PageInfo {
  readonly pageIndex: number;
  readonly pageSize: number;
  readonly total: number;
}

/** A parsed `pageIndex` (1-based) / `pageSize`, with the matching offset. */
export interface Paging {
  readonly pageIndex: number;
  readonly pageSize: number;
  readonly offset: number;
  readonly limit: number;
}

export const DEFAULT_PAGE_SIZE = 50;
/** Large enough for scripts, small enough that one request cannot load a whole table. */
export const MAX_PAGE_SIZE = 500;

/** Query strings as Fastify parses them. */
export type Query = Readonly<Record<string, unknown>>;

function integer(query: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = query[name];
  if (raw === undefined || raw === '') return fallback;
  const value = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) throw rejected(name, raw, `must be between ${min} and ${max}`);
  return value;
}

/** Reads `pageIndex` and `pageSize`; `pageSize=0` asks for the total alone. */
export function parsePaging(query: Query): Paging {
  const pageIndex = integer(query, 'pageIndex', 1, 1, 1_000_000);
  const pageSize = integer(query, 'pageSize', DEFAULT_PAGE_SIZE, 0, MAX_PAGE_SIZE);
  return { pageIndex, pageSize, offset: (pageIndex - 1) * pageSize, limit: pageSize };
}

/** The `page` object of a list answer. */
export function pageInfo(paging: Paging, total: number): PageInfo {
  return { pageIndex: paging.pageIndex, pageSize: paging.pageSize, total };
}

/** An optional boolean parameter (`true`/`false`). */
export function optionalBoolean(query: Query, name: string): boolean | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw rejected(name, raw, 'must be true or false');
}

/** An optional string parameter; a repeated parameter is refused rather than guessed at. */
export function optionalString(query: Query, name: string): string | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw rejected(name, raw, 'must be given once');
  return raw;
}

/** The JSON object body of a write; anything else is a 400. */
export function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw rejected('body', undefined, 'must be a JSON object');
  }
  return body as Record<string, unknown>;
}
