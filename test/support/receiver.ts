/**
 * A real webhook receiver for tests: node:http on 127.0.0.1, verifying every request with the
 * `standardwebhooks` package, unchanged, as an application would. Its answers are scripted.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got. */
export interface Received {
  readonly at: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly payload: { id: string; type: string; timestamp: string; data: any; previous?: any };
  /** Whether the signature verified with the receiver's secret(s) at the time. */
  readonly verified: boolean;
  /** Whether it verified and was answered 2xx. */
  accepted: boolean;
  /** When the answer was sent; undefined while it is awaited (or never, `hang`). */
  answeredAt?: number;
}

/** What to answer: a status (with headers and body, after `delayMs`: a slow receiver), or `hang` (never answer). */
export type Answer = { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string; readonly delayMs?: number } | 'hang';

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** The secrets a request may be signed with; it verifies when one of them verifies. */
  secrets: string[];
  /** Decides each answer; by default 204. */
  answer: (request: Received, index: number) => Answer;
  /** The payloads' event ids of the verified, 2xx-answered requests, in order. */
  acceptedIds(): string[];
  /** Resolves once `predicate` holds on what was received (polls), or fails after `ms`. */
  until(predicate: (received: readonly Received[]) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** Verifies a request with one secret, as a receiver using standardwebhooks does. */
export function verifies(secret: string, request: Pick<Received, 'body' | 'headers'>): boolean {
  try {
    new Webhook(secret).verify(request.body, request.headers);
    return true;
  } catch {
    return false;
  }
}

/** Starts a receiver on a free port of 127.0.0.1. */
export async function startReceiver(): Promise<Receiver> {
  const hanging = new Set<ServerResponse>();
  const receiver: Receiver = {
    url: '',
    received: [],
    secrets: [],
    answer: () => ({ status: 204 }),
    acceptedIds: () => receiver.received.filter((request) => request.accepted).map((request) => request.payload.id),
    async until(predicate, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!predicate(receiver.received)) {
        if (Date.now() > deadline) throw new Error(`receiver: condition not met within ${ms} ms; got ${receiver.received.length} requests: ${receiver.received.map((r) => r.payload?.id).join(',')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: async () => {
      for (const response of hanging) response.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers[name] = value;
      let payload: Received['payload'];
      try {
        payload = JSON.parse(body) as Received['payload'];
      } catch {
        payload = { id: '', type: '', timestamp: '', data: null };
      }
      const received: Received = { at: Date.now(), path: request.url ?? '', headers, body, payload, verified: receiver.secrets.some((secret) => verifies(secret, { body, headers })), accepted: false };
      receiver.received.push(received);
      const answer = receiver.answer(received, receiver.received.length - 1);
      if (answer === 'hang') {
        hanging.add(response);
        return;
      }
      const reply = (): void => {
        received.accepted = answer.status >= 200 && answer.status < 300 && received.verified;
        received.answeredAt = Date.now();
        response.writeHead(answer.status, answer.headers ?? {});
        response.end(answer.body ?? '');
      };
      if (answer.delayMs === undefined) reply();
      else {
        hanging.add(response);
        setTimeout(() => {
          hanging.delete(response);
          if (!response.destroyed) reply();
        }, answer.delayMs);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  (receiver as { url: string }).url = `http://127.0.0.1:${address.port}/hook`;
  return receiver;
}
