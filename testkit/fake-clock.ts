import type { Clock, TimerHandle } from '../src/broker/clock.js';

interface Timer {
  readonly id: number;
  at: number;
  readonly callback: () => void;
}

/**
 * Time that moves only when a test says so. `advance` fires due timers in order and lets
 * the promises they start settle; `sleep` moves the wall clock without firing timers,
 * like a laptop lid closing (monotonic timers stop while it is shut).
 */
export class FakeClock implements Clock {
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(private current = Date.UTC(2026, 10, 22, 9, 0, 0)) {}

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.current + Math.max(0, delayMs), callback };
    this.timers.push(timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle.id);
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.callback();
      await settle();
    }
    this.current = target;
    await settle();
  }

  /** The wall clock jumps; pending timers keep their remaining delay. */
  async sleep(ms: number): Promise<void> {
    this.current += ms;
    for (const t of this.timers) t.at += ms;
    await settle();
  }
}

/** Turns of the event loop `settle` waits: enough for a store's file reads and writes. */
const SETTLE_TURNS = 20;

/**
 * Lets chains of already-resolved promises, and the I/O they start, run to their end: waits
 * SETTLE_TURNS turns of the event loop (microtasks drain after each immediate). One promise
 * for all the turns, not one per turn: under tap every promise is tracked by its async-hook
 * domain until garbage collection, and per-turn promises made that tracking most of a
 * fake-time test's CPU.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => {
    let left = SETTLE_TURNS;
    const turn = (): void => {
      left -= 1;
      if (left > 0) setImmediate(turn);
      else resolve();
    };
    setImmediate(turn);
  });
}
