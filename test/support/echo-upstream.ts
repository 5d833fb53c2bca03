/**
 * The application behind a forward-auth proxy in tests: it answers every request with the
 * method, URL and headers it received, as JSON, so that a test sees what the proxy let through.
 */
import { createServer, type Server } from 'node:http';
import { freePort } from './process.ts';

export interface EchoUpstream {
  readonly server: Server;
  readonly base: string;
}

export async function startEchoUpstream(): Promise<EchoUpstream> {
  const port = await freePort();
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ method: request.method, url: request.url, headers: request.headers }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${port}` };
}
