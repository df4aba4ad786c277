/**
 * Drives HTTP load from a process of its own (pinned to its own core when possible): wrk
 * when it is installed (C, one thread: it needs a fraction of the CPU autocannon needs for
 * the same rate, so the server, not the generator, is what saturates), else autocannon.
 * The endpoint token goes to the generator through the environment, never argv.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onPath, pinned } from './machine.js';

export type LoadGenerator = 'wrk' | 'autocannon';

export interface LoadOptions {
  readonly url: string;
  readonly token: string;
  readonly connections: number;
  readonly durationS: number;
  /** Core to pin the generator to. */
  readonly cpu?: number;
  /** Called with the generator's pid once it runs (for CPU accounting). */
  readonly onPid?: (pid: number) => void;
}

export interface LoadResult {
  readonly generator: LoadGenerator;
  readonly connections: number;
  readonly durationS: number;
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses that were not 2xx. */
  readonly non2xx: number;
  /** Connect, read, write errors and timeouts. */
  readonly errors: number;
}

let chosen: LoadGenerator | undefined;

/** wrk if on PATH, else autocannon; BENCH_LOAD_GENERATOR=autocannon|wrk forces one. */
export function loadGenerator(): LoadGenerator {
  if (!chosen) {
    const forced = process.env.BENCH_LOAD_GENERATOR;
    if (forced === 'wrk' || forced === 'autocannon') chosen = forced;
    else chosen = onPath('wrk') ? 'wrk' : 'autocannon';
  }
  return chosen;
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return loadGenerator() === 'wrk' ? runWrk(options) : runAutocannon(options);
}

// --- wrk --------------------------------------------------------------------------------

const WRK_SCRIPT = 'wrk.headers["Authorization"] = os.getenv("BENCH_TOKEN")\n';

async function runWrk(options: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-wrk-'));
  try {
    const script = join(dir, 'auth.lua');
    writeFileSync(script, WRK_SCRIPT);
    const args = ['-t1', `-c${options.connections}`, `-d${options.durationS}s`, '--latency', '--timeout', '5s', '-s', script, options.url];
    const output = await run(pinned(options.cpu, 'wrk', args), { BENCH_TOKEN: options.token }, options.onPid);
    return { generator: 'wrk', connections: options.connections, durationS: options.durationS, ...parseWrk(output) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The parts of wrk's report we use (wrk 4.x). */
export function parseWrk(text: string): Omit<LoadResult, 'generator' | 'connections' | 'durationS'> {
  const latency = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
    if (!m) return Number.NaN;
    const value = Number(m[1]);
    return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
  };
  const requests = Number(/^\s*(\d+) requests in/m.exec(text)?.[1] ?? Number.NaN);
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  if (!Number.isFinite(requests) || !Number.isFinite(rps)) throw new Error(`could not read wrk's report:\n${text}`);
  return { requests, rps, p50Ms: latency('50'), p99Ms: latency('99'), non2xx, errors };
}

// --- autocannon ---------------------------------------------------------------------------

const AUTOCANNON_WORKER = fileURLToPath(new URL('./autocannon-worker.js', import.meta.url));

async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const args = [AUTOCANNON_WORKER, options.url, String(options.connections), String(options.durationS)];
  const output = await run(pinned(options.cpu, process.execPath, args), { BENCH_TOKEN: options.token }, options.onPid);
  const line = output.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`autocannon printed no result:\n${output}`);
  return { generator: 'autocannon', connections: options.connections, durationS: options.durationS, ...(JSON.parse(line.slice(7)) as Omit<LoadResult, 'generator' | 'connections' | 'durationS'>) };
}

// --- paced (open-loop) load ----------------------------------------------------------------

const PACED_WORKER = fileURLToPath(new URL('./paced-load.js', import.meta.url));

export interface PacedResult extends Omit<LoadResult, 'generator'> {
  readonly generator: 'paced';
  readonly rate: number;
  readonly maxMs: number;
}

/** `rate` requests/s over `connections` connections, latency from each request's due time. */
export async function runPacedLoad(options: LoadOptions & { rate: number }): Promise<PacedResult> {
  const args = [PACED_WORKER, options.url, String(options.connections), String(options.rate), String(options.durationS)];
  const output = await run(pinned(options.cpu, process.execPath, args), { BENCH_TOKEN: options.token }, options.onPid);
  const line = output.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`paced-load printed no result:\n${output}`);
  const r = JSON.parse(line.slice(7)) as Omit<PacedResult, 'generator' | 'connections' | 'durationS' | 'rate'>;
  return { generator: 'paced', connections: options.connections, durationS: options.durationS, rate: options.rate, ...r };
}

// --- running a generator --------------------------------------------------------------------

// A generator must not outlive an interrupted benchmark.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function run([command, args]: [string, string[]], extraEnv: Record<string, string>, onPid?: (pid: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    if (child.pid !== undefined) onPid?.(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited ${signal ?? code}: ${err || out}`));
    });
  });
}
