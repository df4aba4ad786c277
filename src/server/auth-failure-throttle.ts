import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** The first failure waits this long before its 401; each further recent failure doubles it. */
export const AUTH_FAILURE_BASE_DELAY_MS = 2;
/** No failed request waits longer than this. */
export const AUTH_FAILURE_MAX_DELAY_MS = 1_000;
/** The failure score halves in this time without failures: the delay falls back by itself. */
export const AUTH_FAILURE_HALF_LIFE_MS = 30_000;
/**
 * The score never exceeds this, so a flood of millions of failures decays as fast as a
 * burst of a dozen: 2 ms × 2^(12 − 1) is well past the 1 s cap already.
 */
export const AUTH_FAILURE_MAX_SCORE = 12;
/**
 * At most this many failed requests wait at once. Beyond it a failed request's connection
 * is closed at once, unanswered: waiting requests are the only memory failures cost, and a
 * client opening thousands of connections must not make us hold thousands of timers.
 */
export const AUTH_FAILURE_MAX_WAITING = 256;
/** At most one "bad token" log line per this interval, with the count since the last. */
export const AUTH_FAILURE_LOG_INTERVAL_MS = 10_000;

/**
 * Slows down answers to requests with a missing or wrong token, more so the more of them
 * arrived recently. One decaying score for everyone, not a map per client: the memory is
 * the same for one client or a million, and on loopback every client has the same address
 * anyway. Valid requests never pass through here. Waiting is a timer, never a busy loop.
 */
export class AuthFailureThrottle {
  private score = 0;
  private scoredAt = 0;
  private waitingCount = 0;
  private unlogged = 0;
  private loggedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Counts one failure; the delay its answer should wait. With a logger, the failure is
   * logged without the presented value, at most once per AUTH_FAILURE_LOG_INTERVAL_MS with
   * the count since the last line, so a flood cannot flood the log.
   */
  recordFailure(log?: Logger): number {
    const now = this.now();
    this.score = Math.min(AUTH_FAILURE_MAX_SCORE, this.currentScore(now) + 1);
    this.scoredAt = now;
    const delayMs = this.delayMs();
    this.unlogged += 1;
    if (log && now - this.loggedAt >= AUTH_FAILURE_LOG_INTERVAL_MS) {
      log.warn({ failures: this.unlogged, delayMs }, 'requests with a missing or wrong Authorization header');
      this.unlogged = 0;
      this.loggedAt = now;
    }
    return delayMs;
  }

  /** The delay the next failure would get if it came now, without counting one. */
  delayMs(now: number = this.now()): number {
    const score = this.currentScore(now);
    if (score <= 0) return 0;
    return Math.min(AUTH_FAILURE_MAX_DELAY_MS, Math.round(AUTH_FAILURE_BASE_DELAY_MS * 2 ** Math.max(0, score - 1)));
  }

  get waiting(): number {
    return this.waitingCount;
  }

  /**
   * Waits `ms` without blocking the event loop. False, at once, when too many failed
   * requests are already waiting: the caller then closes the connection instead.
   */
  async wait(ms: number): Promise<boolean> {
    if (this.waitingCount >= AUTH_FAILURE_MAX_WAITING) return false;
    this.waitingCount += 1;
    try {
      await sleep(ms);
    } finally {
      this.waitingCount -= 1;
    }
    return true;
  }

  private currentScore(now: number): number {
    if (this.score === 0) return 0;
    const elapsed = Math.max(0, now - this.scoredAt);
    return this.score * 0.5 ** (elapsed / AUTH_FAILURE_HALF_LIFE_MS);
  }
}
