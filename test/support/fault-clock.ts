import { type Clock, systemClock, type TimerHandle } from '../../src/broker/clock.js';

/**
 * Real time and real timers, with a wall clock a test can move: for faults measured in
 * real time (a hung upstream, the SDK's timeouts) in a session that must look older.
 */
export class ShiftedClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return systemClock.setTimeout(callback, delayMs);
  }

  clearTimeout(handle: TimerHandle): void {
    systemClock.clearTimeout(handle);
  }

  /** The wall clock jumps; timers keep running on real time. */
  shift(ms: number): void {
    this.offsetMs += ms;
  }
}
