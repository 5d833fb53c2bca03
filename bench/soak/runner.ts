/**
 * Sends a seeded stream of requests (generator.ts) to a running Roster over a few keep-alive
 * connections and tallies what came back: statuses by class, every 5xx with its request, and
 * every request that got no answer (socket error, reset, timeout).
 */
import { Agent, request as httpRequest } from 'node:http';
import { createGenerator, type SoakRequest } from './generator.ts';

/** A request that failed: a 5xx answer, or no answer at all. */
export interface SoakProblem {
  readonly index: number;
  readonly request: SoakRequest;
  /** The status, or the socket error's code for a dropped request. */
  readonly outcome: string;
  /** The start of the answer's body, for a 5xx. */
  readonly answer?: string;
  /** For a dropped request on a reused connection: the request answered just before on it. */
  readonly previous?: { readonly request: SoakRequest; readonly status: number; readonly headers: string };
}

export interface SoakReport {
  readonly seed: number;
  readonly sent: number;
  readonly byClass: Record<string, number>;
  readonly serverErrors: SoakProblem[];
  readonly dropped: SoakProblem[];
  readonly durationMs: number;
}

export interface SoakOptions {
  readonly base: string;
  readonly token: string;
  readonly seed: number;
  readonly count: number;
  readonly concurrency: number;
  /** Called after each `every` requests with how many were sent (for RSS samples and progress). */
  readonly progress?: { every: number; call(sent: number): void | Promise<void> };
  /** Per request, in ms: beyond it the request counts as dropped. */
  readonly timeoutMs?: number;
}

/** Runs the soak and resolves with its report. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const generator = createGenerator(options.seed, options.token);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const byClass: Record<string, number> = {};
  const serverErrors: SoakProblem[] = [];
  const dropped: SoakProblem[] = [];
  const started = performance.now();
  let issued = 0;
  let done = 0;

  async function worker(): Promise<void> {
    while (issued < options.count) {
      const index = issued++;
      const request = generator.next();
      const outcome = await send(options.base, agent, request, options.timeoutMs ?? 30_000);
      if ('error' in outcome) {
        dropped.push({ index, request, outcome: outcome.error, ...(outcome.previous !== undefined ? { previous: outcome.previous } : {}) });
      } else {
        const klass = `${Math.floor(outcome.status / 100)}xx`;
        byClass[klass] = (byClass[klass] ?? 0) + 1;
        if (outcome.status >= 500) serverErrors.push({ index, request, outcome: String(outcome.status), answer: outcome.body.slice(0, 500) });
        generator.remember(request, outcome.status, outcome.body);
      }
      done += 1;
      if (options.progress !== undefined && done % options.progress.every === 0) await options.progress.call(done);
    }
  }

  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  agent.destroy();
  return { seed: options.seed, sent: done, byClass, serverErrors, dropped, durationMs: performance.now() - started };
}

type Previous = NonNullable<SoakProblem['previous']>;
/** The last exchange on each connection, to explain a reset on its next request. */
const lastOn = new WeakMap<object, Previous>();

function send(base: string, agent: Agent, request: SoakRequest, timeoutMs: number): Promise<{ status: number; body: string } | { error: string; previous?: Previous }> {
  return new Promise((resolve) => {
    const url = new URL(request.path, base);
    const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
    const headers: Record<string, string | number> = { ...request.headers };
    if (body !== undefined) headers['content-length'] = body.length;
    let settled = false;
    let previous: Previous | undefined;
    const finish = (result: { status: number; body: string } | { error: string; previous?: Previous }): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const req = httpRequest(url, { method: request.method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        lastOn.set(req.socket ?? {}, { request, status: response.statusCode ?? 0, headers: JSON.stringify(response.headers) });
        finish({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', (error: NodeJS.ErrnoException) => finish({ error: `response ${error.code ?? error.message}` }));
    });
    req.setTimeout(timeoutMs, () => {
      finish({ error: 'timeout' });
      req.destroy();
    });
    req.on('socket', (socket) => (previous = lastOn.get(socket)));
    req.on('error', (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message, ...(previous !== undefined ? { previous } : {}) }));
    req.end(body);
  });
}

/** A request as a curl command line, to replay a problem by hand. */
export function asCurl(base: string, request: SoakRequest): string {
  const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const headers = Object.entries(request.headers).map(([name, value]) => `-H ${quote(`${name}: ${value.length > 200 ? `${value.slice(0, 200)}…` : value}`)}`);
  const body = request.body === undefined ? [] : [`--data-binary ${quote(request.body.length > 2000 ? `${request.body.slice(0, 2000)}…(${request.body.length} chars)` : request.body)}`];
  return ['curl', '-X', request.method, ...headers, ...body, quote(new URL(request.path, base).toString())].join(' ');
}
