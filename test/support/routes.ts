/**
 * The routes an app registered, read from Fastify's own listing (printRoutes), independently of
 * the code that describes them: tests compare it with the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify';

/** Every `METHOD /path/{param}` the app registered (HEAD routes aside), sorted. */
export function registeredRoutes(app: FastifyInstance): string[] {
  const found: string[] = [];
  const parents: string[] = [];
  // Lines read `│   └── /:id (GET, HEAD, PATCH)`: four characters of indentation per level,
  // and a child's segment follows its parent's path.
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([^)]*)\)/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    const path = (parents[depth - 1] ?? '') + (match[2] ?? '');
    parents[depth] = path;
    parents.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ')) {
      if (method !== 'HEAD') found.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return found.sort();
}

/** The admin API's routes among them: under /api/, SCIM and the document itself aside. */
export function registeredAdminRoutes(app: FastifyInstance): string[] {
  return registeredRoutes(app).filter((route) => {
    const path = route.slice(route.indexOf(' ') + 1);
    return path.startsWith('/api/') && !path.startsWith('/api/scim/') && path !== '/api/v2/api-docs';
  });
}
