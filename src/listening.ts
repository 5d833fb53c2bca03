/**
 * What the start-up banner says about where `roster serve` listens and how ROSTER_BASE_URL
 * reaches it. The base URL is the address browsers and identity providers use; Roster listens
 * on ROSTER_HOST:ROSTER_PORT, in plain HTTP. When the first cannot reach the second directly
 * (an https URL, another port, a loopback address only this machine can reach), a reverse proxy
 * or a port mapping is expected in between: the banner says so plainly, as a fact of the setup
 * rather than an error, so that someone who has no proxy sees why the printed URL does not answer.
 */
import { isIP } from 'node:net';

/** Where the server listens, and what the banner notes about reaching it through the base URL. */
export interface Listening {
  /** The listening address as a URL, with what it covers: `http://127.0.0.1:8080 (this machine only)`. */
  readonly listensOn: string;
  /** Why ROSTER_BASE_URL does not reach that address directly, and what is then expected; undefined when it does. */
  readonly note: string | undefined;
}

/** An address without IPv6 brackets, lower-cased. */
function bare(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/** Whether only this machine can reach `host`: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). */
function isLoopback(host: string): boolean {
  const address = bare(host);
  return address === 'localhost' || address.endsWith('.localhost') || address === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(address);
}

/** Whether `host` is the wildcard address: every address of the machine. */
function isWildcard(host: string): boolean {
  const address = bare(host);
  return address === '' || address === '0.0.0.0' || address === '::';
}

/** Describes how `baseUrl` (ROSTER_BASE_URL) reaches a server listening on `host`:`port` (ROSTER_HOST, ROSTER_PORT). */
export function describeListening(host: string, port: number, baseUrl: string): Listening {
  const address = bare(host);
  const listenUrl = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  const scope = isWildcard(host)
    ? address === '0.0.0.0' ? ' (every IPv4 address of this machine)' : ' (every address of this machine)'
    : isLoopback(host) ? ' (this machine only)' : '';
  const base = new URL(baseUrl);
  const baseHost = bare(base.hostname);
  const basePort = base.port === '' ? (base.protocol === 'https:' ? 443 : 80) : Number(base.port);
  const reasons: string[] = [];
  if (base.protocol === 'https:') reasons.push('it is https, and Roster itself serves plain HTTP');
  if (basePort !== port) reasons.push(`it is on port ${basePort}, Roster on port ${port}`);
  if (isLoopback(host) && !isLoopback(baseHost)) {
    reasons.push(`Roster listens on ${address}, which only this machine can reach`);
  } else if (!isWildcard(host) && !isLoopback(host) && isIP(address) !== 0 && isIP(baseHost) !== 0 && baseHost !== address) {
    reasons.push(`it names ${baseHost}, and Roster listens on ${address} only`);
  }
  const note = reasons.length === 0
    ? undefined
    : `Note: ${base.origin} (ROSTER_BASE_URL) does not reach Roster directly: ${reasons.join('; ')}. ` +
      `A reverse proxy${basePort !== port && reasons.length === 1 ? ' or a port mapping' : ''} is expected to forward it to ${listenUrl}. ` +
      'Without one, set ROSTER_BASE_URL to an address that reaches this one (docs/deploy.md).';
  return { listensOn: `${listenUrl}${scope}`, note };
}
