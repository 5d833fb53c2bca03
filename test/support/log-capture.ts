/** A log stream for a test app (`startTestApp({ logger: { level, stream } })`) that keeps every JSON line it is given. */
import { Writable } from 'node:stream';

export interface LogCapture {
  readonly stream: Writable;
  /** The lines written so far, in order, each as written (one JSON object). */
  readonly lines: string[];
}

export function captureLog(): LogCapture {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      done();
    },
  });
  return { stream, lines };
}
