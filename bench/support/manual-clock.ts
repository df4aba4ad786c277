/**
 * Time that moves only when the benchmark moves it (the same contract as the tests'
 * FakeClock): `advance` fires due timers in order and lets the promises they start settle.
 * A simulated hour then costs what its requests cost, not an hour.
 */
import type { Clock, TimerHandle } from '../../src/broker/clock.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

export class ManualClock implements Clock {
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
}

/** Lets chains of already-resolved promises (an in-memory refresh) run to their end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
}
