/**
 * Pages of a sorted list of SCIM resources, by index (RFC 7644 §3.4.2.4) or by keyset (the
 * cursors of RFC 9865). A keyset page is read as "the resources after the last one shown", by
 * sort key then SCIM id, so it costs the same on page 1 and on page 1,000, and a walk never
 * repeats nor skips a resource that stays in the list (and keeps its sort key) while others
 * are created and deleted.
 */
import type { RawBuilder, SqlBool } from 'kysely';
import type { KeysetPosition } from '../scim/cursor.ts';
import type { Listed, ListQuery } from '../store/users.ts';

/** Which page of a list to read. */
export type PageRequest =
  | { readonly kind: 'index'; /** 0-based. */ readonly offset: number; readonly limit: number }
  | {
      readonly kind: 'keyset';
      readonly limit: number;
      /** Undefined for the first page; else the page after (`next`) or before (`previous`) `position`. */
      readonly from?: { readonly position: KeysetPosition; readonly direction: 'next' | 'previous' };
    };

/** A page and what surrounds it. */
export interface Page<T> {
  /** How many resources match the filter, counted in the same snapshot as the page. */
  readonly total: number;
  readonly items: readonly T[];
  /** Keyset pages: the positions of the first and last items (undefined when the page is empty). */
  readonly first?: KeysetPosition;
  readonly last?: KeysetPosition;
  /** Keyset pages: whether resources come after the last item, and before the first one. */
  readonly hasNext: boolean;
  readonly hasPrevious: boolean;
}

/** What a list reads: the filter, the sort and the functions that read it in one snapshot. */
export interface PageSource<T> {
  readonly where?: RawBuilder<SqlBool>;
  readonly orderBy?: RawBuilder<unknown>;
  /** False when `orderBy` is never NULL (see ListQuery). */
  readonly orderByNullable?: boolean;
  readonly descending: boolean;
  list(query: ListQuery): Promise<Listed<T>[]>;
  count(): Promise<number>;
  /** The SCIM id of a row: keyset positions end with it. */
  idOf(row: T): string;
}

/** Reads one page from `source`; call it inside one read snapshot. */
export async function readPage<T>(source: PageSource<T>, page: PageRequest): Promise<Page<T>> {
  const items = await readItems(source, page);
  // A first page that is not full holds every match (the same snapshot): the count is its
  // length, without counting again. This is the lookup IdPs make before each write
  // (`userName eq "…"`), one match or none.
  const whole =
    page.limit > 0 &&
    items.items.length < page.limit &&
    (page.kind === 'index' ? page.offset === 0 : page.from === undefined && !items.hasNext);
  return { total: whole ? items.items.length : await source.count(), ...items };
}

/**
 * The first page of a list when `listed` (read in the list's order, fewer than the page's
 * limit) is every match: its total is its length and nothing comes before or after it. For a
 * lookup that reads its matches by itself (directory/users.ts, `userName eq`).
 */
export function wholeFirstPage<T>(listed: readonly Listed<T>[], page: PageRequest, idOf: (row: T) => string): Page<T> {
  const items = listed.map((item) => item.row);
  const head = listed[0];
  const tail = listed[listed.length - 1];
  const positions =
    page.kind === 'keyset'
      ? { ...(head !== undefined ? { first: positionOf(head, idOf) } : {}), ...(tail !== undefined ? { last: positionOf(tail, idOf) } : {}) }
      : {};
  return { total: items.length, items, ...positions, hasNext: false, hasPrevious: false };
}

/** Where an item stands in the list: its sort key, then its SCIM id. */
function positionOf<T>(item: Listed<T>, idOf: (row: T) => string): KeysetPosition {
  return { key: item.sortKey, id: idOf(item.row) };
}

async function readItems<T>(source: PageSource<T>, page: PageRequest): Promise<Omit<Page<T>, 'total'>> {
  const forward: ListQuery = {
    ...(source.where ? { where: source.where } : {}),
    ...(source.orderBy ? { orderBy: source.orderBy } : {}),
    ...(source.orderByNullable !== undefined ? { orderByNullable: source.orderByNullable } : {}),
    descending: source.descending,
    offset: 0,
    limit: page.limit,
  };
  if (page.kind === 'index') {
    const items = page.limit === 0 ? [] : await source.list({ ...forward, offset: page.offset });
    return { items: items.map((item) => item.row), hasNext: false, hasPrevious: false };
  }
  if (page.limit === 0) return { items: [], hasNext: false, hasPrevious: false };
  // The same order read backwards: ascending NULLS LAST with ids ascending reversed is
  // descending NULLS FIRST with ids descending (users.ts orderScimList), and vice versa.
  const backward: ListQuery = { ...forward, descending: !source.descending };
  const position = (item: Listed<T>): KeysetPosition => positionOf(item, source.idOf);
  const from = page.from;

  // One more than asked for tells whether another page follows in the direction read. The
  // other direction is not read again: a page reached from a cursor has the page that issued
  // it on that side (if its resources were deleted since, going back reads the first page).
  let items: Listed<T>[];
  let hasNext: boolean;
  let hasPrevious: boolean;
  if (from === undefined || from.direction === 'next') {
    items = await source.list({ ...forward, ...(from !== undefined ? { after: from.position } : {}), limit: page.limit + 1 });
    hasNext = items.length > page.limit;
    items = items.slice(0, page.limit);
    hasPrevious = from !== undefined && items.length > 0;
  } else {
    items = await source.list({ ...backward, after: from.position, limit: page.limit + 1 });
    if (items.length <= page.limit) {
      // Back at the start of the list (resources before it were deleted, or the page before
      // was shorter): the previous page is the first page, full.
      return readItems(source, { kind: 'keyset', limit: page.limit });
    }
    hasPrevious = true;
    items = items.slice(0, page.limit).reverse();
    hasNext = items.length > 0;
  }
  const head = items[0];
  const tail = items[items.length - 1];
  return {
    items: items.map((item) => item.row),
    ...(head !== undefined ? { first: position(head) } : {}),
    ...(tail !== undefined ? { last: position(tail) } : {}),
    hasNext,
    hasPrevious,
  };
}
