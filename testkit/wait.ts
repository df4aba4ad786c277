import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Default 15 s. */
  readonly timeoutMs?: number;
  /** Between two reads; default 200 ms. */
  readonly intervalMs?: number;
}

/**
 * Reads `read` until `ok` accepts what it returned, and resolves with that; after
 * `timeoutMs` fails naming `what` and the last value read. For what a test or a benchmark
 * cannot be told about, only look at again (a daemon's state, a listener, a file).
 */
export async function waitFor<T>(what: string, read: () => T | Promise<T>, ok: (value: T) => boolean = Boolean, { timeoutMs = 15_000, intervalMs = 200 }: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what} (last: ${JSON.stringify(value)})`);
    await sleep(intervalMs);
  }
}
