/**
 * Records every request to the SCIM API, however its URL was spelled, in the provisioning
 * activity (directory/activity.ts). It runs after the response has been sent and never
 * fails a request: rows are written in batches (at most BATCH_ROWS, at most BATCH_DELAY_MS
 * after the response), and a failed write is logged and dropped. So a crash loses the last
 * fraction of a second of activity; the data itself is never at stake.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { foldKeyOf, type ObservedRequest, type ProvisioningActivity, type RequestToken } from '../directory/activity.ts';
import { auditSource } from './routes/saml/common.ts';
import { clientAddress } from './client.ts';
import { routedPath } from './routing.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The SCIM error this request was answered with (set by the SCIM error handler), else null. */
    scimFailure: { readonly scimType: string | undefined; readonly detail: string } | null;
  }
}

const BATCH_ROWS = 100;
const BATCH_DELAY_MS = 200;
/** Requests waiting or being written, past which new ones are dropped (a database that stopped answering). */
const MAX_PENDING = 10_000;
/**
 * Requests without a valid token are folded in memory by source and minute until the next
 * write, so a flood of them takes one place in the queue per source, not one per request;
 * past this many sources in one batch, the others are dropped (the database keeps 10 a minute).
 */
const MAX_FOLDED_SOURCES = 1000;

/** Collects answered SCIM requests and writes them behind the responses. */
export interface ActivityRecorder {
  /** Queues an answered request; returns at once. */
  observe(request: FastifyRequest, reply: FastifyReply): void;
  /** Writes what is queued and waits for every write in flight (shutdown, tests). */
  settle(): Promise<void>;
}

/** The `filter` query parameter, if given once as text. */
function filterOf(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.['filter'];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The request as the activity records it. */
function observed(request: FastifyRequest, reply: FastifyReply): ObservedRequest {
  const durationMs = reply.elapsedTime;
  const queryStart = request.url.indexOf('?');
  // `?? null`: a request the router could not decode (frameworkErrors) lacks the decorations.
  const token: RequestToken | null = request.bearer ?? null;
  return {
    at: new Date(Date.now() - durationMs),
    method: request.method,
    path: routedPath(request.url),
    query: queryStart === -1 ? '' : request.url.slice(queryStart + 1),
    filter: filterOf(request),
    status: reply.statusCode,
    durationMs,
    token,
    // Requests without a valid token are folded by source: an IPv6 client by its /64.
    source: token === null ? auditSource(request.ip) : clientAddress(request),
    failure: reply.statusCode >= 400 ? (request.scimFailure ?? null) : null,
  };
}

/** Creates the recorder writing through `activity`; failures are logged on `log`. */
export function createActivityRecorder(activity: ProvisioningActivity, log: FastifyBaseLogger): ActivityRecorder {
  let queue: ObservedRequest[] = [];
  let folded = new Map<string, { request: ObservedRequest; count: number }>();
  let pending = 0;
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  const writes = new Set<Promise<void>>();

  function flush(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    for (const { request, count } of folded.values()) queue.push({ ...request, count });
    folded = new Map();
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    const write: Promise<void> = activity
      .record(batch)
      .catch((error: unknown) => {
        log.warn({ err: error, requests: batch.length }, 'could not record SCIM requests in the provisioning activity; they are missing from it');
      })
      .finally(() => {
        writes.delete(write);
        pending -= batch.length;
      });
    writes.add(write);
  }

  return {
    observe(request, reply) {
      let entry: ObservedRequest;
      try {
        entry = observed(request, reply);
      } catch (error) {
        log.warn({ err: error }, 'could not read a SCIM request for the provisioning activity');
        return;
      }
      const key = foldKeyOf(entry);
      const group = key === undefined ? undefined : folded.get(key);
      if (group !== undefined) {
        group.count += 1;
        return;
      }
      if (pending >= MAX_PENDING || (key !== undefined && folded.size >= MAX_FOLDED_SOURCES)) {
        dropped += 1;
        if (dropped === 1 || dropped % 1000 === 0) log.warn({ dropped }, 'provisioning activity writes are not keeping up; SCIM requests are left out of it');
        return;
      }
      if (key === undefined) queue.push(entry);
      else folded.set(key, { request: entry, count: 1 });
      pending += 1;
      if (queue.length + folded.size >= BATCH_ROWS) flush();
      else timer ??= setTimeout(flush, BATCH_DELAY_MS).unref();
    },

    async settle() {
      flush();
      while (writes.size > 0) await Promise.all([...writes]);
    },
  };
}
