/**
 * The HTTP fuzz test's server, in a process of its own so that its memory can be measured
 * (with --expose-gc) apart from the client's, and so that a crash shows as an exit.
 * Messages: parent → 'memory' | 'stop'; child → { port } once listening, then replies.
 */
import { listenApp } from './listening-app.js';


export interface FuzzServerReport {
  readonly rss: number;
  readonly heapUsed: number;
  /** Log lines at error level or above (an "unexpected error serving a request" is a bug). */
  readonly errors: readonly string[];
  readonly logLines: number;
}

// Set by http-fuzz.test.ts. Without it (the file run as a test by mistake, e.g. `tap <dir>`)
// it exits at once instead of listening forever. Import only types from this file.
if (process.env.COGNITO_BROKER_FUZZ_SERVER !== '1' || !process.send) process.exit(0);
const server = await listenApp();
const send = (message: unknown) => process.send?.(message);
send({ port: server.port });

process.on('message', (message: unknown) => {
  if (message === 'memory') {
    // Count, then drop, the captured log lines: they would otherwise be most of the heap.
    const errors = server.logs.raw.filter((_, i) => ((server.logs.lines[i]?.level as number) ?? 0) >= 50);
    const logLines = server.logs.raw.length;
    server.logs.raw.length = 0;
    server.logs.lines.length = 0;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    send({ rss, heapUsed, errors, logLines } satisfies FuzzServerReport);
  } else if (message === 'stop') {
    void server.close().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
