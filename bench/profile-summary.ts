/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from `npm run bench:load -- --profile DIR`):
 * the functions with the most self time, and the packages or files they belong to.
 * Usage: tsx bench/profile-summary.ts FILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const [file, topArgument] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: tsx bench/profile-summary.ts FILE.cpuprofile [TOP]');
const top = Number(topArgument ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfTime = new Map<number, number>();
profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

/** Where a function lives: a package under node_modules, a file of ours, or V8/Node. */
function placeOf(url: string): string {
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return module[1]!;
  const own = /\/(src|bench)\/(.*)$/.exec(url);
  if (own) return `${own[1]}/${own[2]}`;
  return url === '' ? '(native)' : url.replace(/^node:/, 'node:');
}

const functions = new Map<string, number>();
const places = new Map<string, number>();
let total = 0;
for (const [id, time] of selfTime) {
  const node = byId.get(id);
  if (node === undefined) continue;
  total += time;
  const { functionName, url, lineNumber } = node.callFrame;
  const place = placeOf(url);
  const key = `${functionName || '(anonymous)'}  ${place}${url ? `:${lineNumber + 1}` : ''}`;
  functions.set(key, (functions.get(key) ?? 0) + time);
  places.set(place, (places.get(place) ?? 0) + time);
}
const show = (title: string, entries: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [key, time] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * time) / total).toFixed(1).padStart(5)} %  ${(time / 1000).toFixed(0).padStart(7)} ms  ${key}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
show('self time by function', functions);
show('self time by package or file', places);
