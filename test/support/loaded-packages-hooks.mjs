// Module hooks (node:module register) for loaded-packages.ts: appends the URL of every module
// the ESM loader loads to a file. Plain JavaScript: it runs in the loader's own thread.
import { appendFileSync } from 'node:fs';

let file;

export function initialize(data) {
  file = data.file;
}

export async function load(url, context, next) {
  appendFileSync(file, `${url}\n`);
  return next(url, context);
}
