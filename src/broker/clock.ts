export type TimerHandle = { readonly id: unknown };

/** Time as the broker sees it. Tests drive a fake one; every timing rule goes through it. */
export interface Clock {
  /** Epoch milliseconds (wall clock: expiry times from Cognito are wall-clock times). */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, delayMs) {
    // unref: a pending refresh timer alone must not keep a finished process alive.
    return { id: setTimeout(callback, delayMs).unref() };
  },
  clearTimeout(handle) {
    clearTimeout(handle.id as NodeJS.Timeout);
  },
};
