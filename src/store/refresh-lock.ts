/**
 * Mutual exclusion, across the user's processes, around the use of one profile's refresh
 * token. With refresh-token rotation a token spent twice at once gets one of the spenders a
 * RefreshTokenReuseException once the grace period is over; without rotation it is a refresh
 * too many. Whoever holds the lock reads the keychain first, so it sees what the one before
 * it rotated or refreshed, and releases it only once what it rotated is written.
 */
export interface RefreshLock {
  /**
   * Takes the lock; resolves with the function that gives it back. Waits for it up to
   * `waitMs` (0: only if it is free now), then rejects with RefreshLockTimeoutError. Not
   * re-entrant: one holder at a time, also within a process.
   */
  acquire(options?: { readonly waitMs?: number }): Promise<() => void>;
  /** Runs `work` holding the lock, and gives it back however `work` ends. */
  hold<T>(work: () => Promise<T>, options?: { readonly waitMs?: number }): Promise<T>;
}

/** `hold` in terms of `acquire`, for every lock that has no cheaper way. */
export async function holdLock<T>(lock: Pick<RefreshLock, 'acquire'>, work: () => Promise<T>, options: { readonly waitMs?: number } = {}): Promise<T> {
  const release = await lock.acquire(options);
  try {
    return await work();
  } finally {
    release();
  }
}

/** No lock: for profiles that never send a refresh token (signInFrom) and for tests of one process. */
export const NO_REFRESH_LOCK: RefreshLock = {
  acquire: async () => () => undefined,
  hold: (work) => work(),
};
