/**
 * Answers that show every member of a group, written while the members are read (a chunk at a
 * time, in one held snapshot: directory/groups.ts HeldRead), so that the memory they take does
 * not grow with the group. The text is exactly what JSON.stringify makes of the whole answer:
 * same members, same order, same projection, byte for byte.
 *
 * Once the first byte is sent the status is sent too: a failure after it (the database lost,
 * say) destroys the connection, so that the client sees a truncated answer, never a well-formed
 * wrong one; it is logged at error (request-log.ts streamError).
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { Document } from '../../../directory/documents.ts';
import type { HeldRead } from '../../../directory/groups.ts';
import { etagOf, locationOf, type ResourceState } from '../../../scim/resources.ts';
import type { JsonObject } from '../../../scim/json.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';
import type { CursorScope } from '../../../scim/cursor.ts';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { Page, PageRequest } from '../../../directory/paging.ts';
import { readList, type ListRequest } from './common.ts';
import { takenInTime } from '../../stalls.ts';

/**
 * How long a streamed answer waits for its client to take more of it before the connection is
 * closed. The answer holds a read snapshot (a PostgreSQL pool connection, a SQLite read
 * connection that holds back the WAL's checkpoint) until it is written: a client that stopped
 * reading, or vanished without closing (a dropped NAT entry), would otherwise hold it until TCP
 * gives up, and a few of them the whole pool. A minute is far more than any reader needs to
 * take a chunk of a thousand members (about 150 KB).
 */
export const STREAM_STALL_MS = 60_000;

declare module 'fastify' {
  interface FastifyInstance {
    /** STREAM_STALL_MS, or what the app was built with (tests). */
    streamStallMs: number;
  }
}

/** JSON text: a string, or pieces to write in turn. */
export type JsonText = string | AsyncIterable<string>;

/**
 * The text of `object` as JSON.stringify writes it, except the array at `key` (whose value in
 * `object` only marks its place), written from `fragments`: each the text of one or more of its
 * elements, comma-separated. With `omitWhenEmpty`, no fragment leaves the key out (a group
 * without members shows no `members`); else it is `[]` (a ListResponse's `Resources`).
 */
export async function* objectText(object: Readonly<Record<string, unknown>>, key: string, fragments: AsyncIterable<JsonText>, omitWhenEmpty: boolean): AsyncGenerator<string> {
  let text = '{';
  let first = true;
  const name = (entry: string) => {
    const written = `${first ? '' : ','}${JSON.stringify(entry)}:`;
    first = false;
    return written;
  };
  for (const [entry, value] of Object.entries(object)) {
    if (entry !== key) {
      // As JSON.stringify: a member whose value is undefined is left out.
      if (value !== undefined) text += name(entry) + JSON.stringify(value);
      continue;
    }
    let opened = false;
    for await (const fragment of fragments) {
      text += opened ? ',' : `${name(key)}[`;
      opened = true;
      if (typeof fragment === 'string') {
        yield text + fragment;
      } else {
        yield text;
        for await (const piece of fragment) yield piece;
      }
      text = '';
    }
    if (opened) text += ']';
    else if (!omitWhenEmpty) text += `${name(key)}[]`;
  }
  yield `${text}}`;
}

/** Renders a resource as the request asked to see it (common.ts presenter). */
export type Presenter = (state: ResourceState) => JsonObject;

/** A marker: where `members` goes in a group's answer. */
const MEMBERS_HERE = Symbol('members');

/**
 * The text of a group (`state`, without members) shown by `show`, its members written from `chunks` as they are read. A
 * group's `members` is its document's last attribute (directory/groups.ts withMembers), so it is
 * rendered just before `meta`, or last when `meta` is not shown; each chunk of members is
 * rendered and projected as the whole list would be, value by value.
 */
export function groupText(show: Presenter, state: ResourceState, chunks: AsyncIterable<readonly Document[]>): AsyncIterable<string> {
  const framed: Record<string, unknown> = {};
  for (const [entry, value] of Object.entries(show(state))) {
    if (entry === 'meta') framed.members = MEMBERS_HERE;
    framed[entry] = value;
  }
  if (!('members' in framed)) framed.members = MEMBERS_HERE;
  async function* fragments(): AsyncGenerator<string> {
    for await (const chunk of chunks) {
      const shown = show({ ...state, document: { members: chunk } }).members;
      // The array's text without its brackets: what JSON.stringify writes of each member, joined
      // by commas, from one call rather than one per member (a third of the time at 27,800 members).
      if (Array.isArray(shown) && shown.length > 0) yield JSON.stringify(shown).slice(1, -1);
    }
  }
  return objectText(framed, 'members', fragments(), true);
}

/**
 * Sends `text` as the body of a SCIM answer (status, ETag, Location on a create, as
 * common.ts sendResource), and ends `held` when the answer is written, fails, or the client
 * leaves: reading stops with it.
 */
export function sendStreamed(
  reply: FastifyReply,
  held: Pick<HeldRead<unknown>, 'end'>,
  text: AsyncIterable<string>,
  resource?: { readonly status: 200 | 201; readonly resourceType: 'Group'; readonly state: ResourceState; readonly baseUrl: string },
): FastifyReply {
  const end = () => {
    held.end().catch((error: unknown) => reply.log.error({ err: error }, 'ending a held read failed'));
  };
  reply.raw.once('close', end);
  async function* pieces(): AsyncGenerator<string> {
    try {
      // A piece not taken in time: the client is not reading (see STREAM_STALL_MS).
      yield* takenInTime(text, reply, reply.server.streamStallMs, 'a streamed answer');
    } finally {
      end();
    }
  }
  if (resource !== undefined) {
    reply.header('ETag', etagOf(resource.state.version));
    if (resource.status === 201) reply.header('Location', locationOf(resource.baseUrl, resource.resourceType, resource.state.id));
    reply.code(resource.status);
  }
  // One piece in the buffer: the next is made when the socket has taken this one.
  return reply.type(SCIM_CONTENT_TYPE).send(Readable.from(pieces(), { highWaterMark: 1 }));
}

/**
 * A list page whose groups show every member: the page is read in a held snapshot (`hold`),
 * then written resource by resource (`text`), each group's members read as they are written.
 * The snapshot ends with the answer, or at once when the page cannot be read.
 */
export async function streamList<T>(
  reply: FastifyReply,
  scope: CursorScope,
  request: ListRequest,
  cursors: ListCursors,
  hold: (page: PageRequest) => Promise<HeldRead<Page<T>>>,
  text: (resource: T, held: HeldRead<Page<T>>) => JsonText,
): Promise<FastifyReply> {
  let held: HeldRead<Page<T>> | undefined;
  try {
    const { page, frame } = await readList(scope, request, cursors, async (pageRequest) => {
      held = await hold(pageRequest);
      return held.value;
    });
    const reading = held!;
    async function* resources(): AsyncGenerator<JsonText> {
      for (const resource of page.items) yield text(resource, reading);
    }
    return sendStreamed(reply, reading, objectText(frame(page.items), 'Resources', resources(), false));
  } catch (error) {
    await held?.end();
    throw error;
  }
}
