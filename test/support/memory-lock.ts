import { RefreshLockTimeoutError } from '../../src/errors.js';
import { holdLock, type RefreshLock } from '../../src/store/refresh-lock.js';

/**
 * A RefreshLock in memory, shared by the harnesses that play separate processes in one
 * test: holders queue in order; `waitMs: 0` refuses at once when it is held. Counts what the
 * tests ask about.
 */
export class MemoryLock implements RefreshLock {
  holds = 0;
  /** The most holders at once: 1 unless the lock is broken. */
  maxHolders = 0;
  #holders = 0;
  #tail: Promise<void> = Promise.resolve();

  async acquire(options: { readonly waitMs?: number } = {}): Promise<() => void> {
    if (options.waitMs === 0 && this.#holders > 0) throw new RefreshLockTimeoutError('default', 'pid 0 (test)', 0);
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.holds += 1;
    this.#holders += 1;
    this.maxHolders = Math.max(this.maxHolders, this.#holders);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holders -= 1;
      release();
    };
  }

  hold<T>(work: () => Promise<T>, options: { readonly waitMs?: number } = {}): Promise<T> {
    return holdLock(this, work, options);
  }
}
