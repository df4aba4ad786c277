/**
 * Mutual exclusion, across the user's processes, around the use of one profile's refresh
 * token. With refresh-token rotation a token spent twice at once gets one of the spenders a
 * RefreshTokenReuseException once the grace period is over; without rotation it is a refresh
 * too many. Whoever holds the lock reads the keychain first, so it sees what the one before
 * it rotated or refreshed.
 */
export interface RefreshLock {
  /**
   * Runs `work` holding the lock and releases it after, however `work` ends. Waits for the
   * lock up to `waitMs` (0: only if it is free now), then rejects with RefreshLockTimeoutError.
   * Not re-entrant: never call hold() from inside `work`.
   */
  hold<T>(work: () => Promise<T>, options?: { readonly waitMs?: number }): Promise<T>;
}

/** No lock: for profiles that never send a refresh token (signInFrom) and for tests of one process. */
export const NO_REFRESH_LOCK: RefreshLock = {
  hold: (work) => work(),
};
