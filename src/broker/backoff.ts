/** First retry after a failed refresh. */
export const BACKOFF_BASE_MS = 1_000;
/** Retries never wait longer than this: recovery is at most this long after Cognito is back. */
export const BACKOFF_MAX_MS = 60_000;
/**
 * Each delay is cut by a random share of up to this ratio, so that many brokers (or
 * profiles) failing together do not retry in step.
 */
export const BACKOFF_JITTER_RATIO = 0.5;

/**
 * Capped exponential backoff with jitter. `attempt` counts failures in a row, from 1.
 * `capMs` lets short-lived sessions (tests, 5-minute pools) cap lower than a minute.
 */
export function backoffDelay(attempt: number, random: () => number, capMs: number = BACKOFF_MAX_MS): number {
  const cap = Math.max(BACKOFF_BASE_MS, Math.min(BACKOFF_MAX_MS, capMs));
  const exponential = Math.min(cap, BACKOFF_BASE_MS * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(exponential * (1 - BACKOFF_JITTER_RATIO * random()));
}
