import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';

/** At most one "bad token" log line per this interval, with the count since the last. */
export const AUTH_FAILURE_LOG_INTERVAL_MS = 10_000;

/** Compares the Authorization header with the endpoint token in constant time. */
export class TokenCheck {
  private readonly expected: Buffer;
  private failures = 0;
  private lastLogAt = 0;

  constructor(token: string, private readonly now: () => number = Date.now) {
    this.expected = digest(token);
  }

  matches(presented: string | undefined): boolean {
    // Hashing first makes the comparison's time independent of the presented length too.
    return presented !== undefined && timingSafeEqual(digest(presented), this.expected);
  }

  /**
   * Logged without the presented value, and rate-limited so a flood cannot flood the log;
   * `delayMs` is how long the answer to this one is held back (AuthFailureThrottle).
   */
  noteFailure(log: FastifyBaseLogger, delayMs = 0): void {
    this.failures += 1;
    const now = this.now();
    if (now - this.lastLogAt >= AUTH_FAILURE_LOG_INTERVAL_MS) {
      log.warn({ failures: this.failures, delayMs }, 'requests with a missing or wrong Authorization header');
      this.failures = 0;
      this.lastLogAt = now;
    }
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
