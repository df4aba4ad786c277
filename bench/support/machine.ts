/**
 * What the numbers were measured on, and how busy the machine was meanwhile. A benchmark on
 * a shared 2-core machine means little without the load next to it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.js';

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  readonly loadGenerator: string;
  readonly pinned: boolean;
}

export function machineInfo(loadGenerator: string): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: osName(),
    loadGenerator,
    pinned: canPin(),
  };
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(text)?.[1] ?? process.platform;
  } catch {
    return process.platform;
  }
}

/** The 1-, 5- and 15-minute load averages (Linux). */
export function loadAverage(): [number, number, number] {
  try {
    const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
    return [a ?? Number.NaN, b ?? Number.NaN, c ?? Number.NaN];
  } catch {
    return [Number.NaN, Number.NaN, Number.NaN];
  }
}

/**
 * Waits, polling every `pollMs`, until the 1-minute load average is below `threshold` or
 * `maxWaitMs` has passed. Returns the load it ended with and how long it waited.
 */
export async function waitForQuietMachine(threshold: number, maxWaitMs: number, pollMs = 60_000, log: (line: string) => void = () => undefined) {
  const started = Date.now();
  for (;;) {
    const load = loadAverage();
    if (!(load[0] >= threshold) || Date.now() - started >= maxWaitMs) return { load, waitedMs: Date.now() - started };
    log(`load average ${load.join(' ')} is above ${threshold}; waiting (at most ${Math.round((maxWaitMs - (Date.now() - started)) / 60_000)} more minutes)`);
    await sleep(Math.min(pollMs, Math.max(0, maxWaitMs - (Date.now() - started))));
  }
}

/** The commit measured, and whether src/ had uncommitted changes (others may be editing it). */
export function sourceVersion(cwd: string = REPO_ROOT): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const changed = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).length;
    return `${git('rev-parse', '--short', 'HEAD')}${changed > 0 ? ` with ${changed} uncommitted files in src/` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

// dist/bench/support/ → the repository root.
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

// --- CPU pinning: the server under test on one core, the load generator on the other ---

let pinnable: boolean | undefined;
/** taskset exists and there are at least two cores to split. */
export function canPin(): boolean {
  if (pinnable === undefined) {
    pinnable = process.platform === 'linux' && availableParallelism() >= 2 && onPath('taskset');
  }
  return pinnable;
}

/** The command and arguments that run `command args` on `cpu` (unpinned when impossible). */
export function pinned(cpu: number | undefined, command: string, args: readonly string[]): [string, string[]] {
  if (cpu === undefined || !canPin()) return [command, [...args]];
  return ['taskset', ['-c', String(cpu), command, ...args]];
}

export function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// --- /proc readings -------------------------------------------------------------------

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
export function processMemory(pid: number): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

const CLOCK_TICKS_PER_S = 100;

/** Busy time of a process (user + system), in ms; NaN once it is gone. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

/** Busy time of all CPUs together, in ms. */
function systemCpuMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / CLOCK_TICKS_PER_S;
}

/**
 * How much CPU processes other than ours used during a measurement, as a share of the
 * whole machine: the interference the numbers carry. Our processes are sampled every
 * 200 ms (a short-lived one, like the load generator, is counted up to its last sample).
 */
export class CpuMonitor {
  private readonly started = performance.now();
  private readonly systemStart = systemCpuMs();
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pids: () => readonly number[]) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 200);
  }

  private sample(): void {
    for (const pid of this.pids()) {
      const used = processCpuMs(pid);
      if (!Number.isFinite(used)) continue;
      if (!this.first.has(pid)) this.first.set(pid, used);
      this.last.set(pid, used);
    }
  }

  /** CPU time `pid` used since the monitor started, in ms. */
  usedMs(pid: number): number {
    return (this.last.get(pid) ?? Number.NaN) - (this.first.get(pid) ?? Number.NaN);
  }

  /** Shares of the machine (0..1): ours, and everybody else's. */
  stop(): { ours: number; others: number } {
    this.sample();
    clearInterval(this.timer);
    const elapsed = (performance.now() - this.started) * availableParallelism();
    let ours = 0;
    for (const [pid, end] of this.last) ours += end - (this.first.get(pid) ?? end);
    const total = systemCpuMs() - this.systemStart;
    return { ours: ours / elapsed, others: Math.max(0, total - ours) / elapsed };
  }
}
