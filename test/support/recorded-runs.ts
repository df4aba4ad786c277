/**
 * Runs of node or the compiled CLI under a recorder preload (test/support/*-recorder.mjs),
 * without the harness's own hooks: which modules a command loads, how its heap is configured.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withoutTapHooks } from '../../testkit/children.js';
import { CLI_BIN } from './cli.js';
import { repoPath } from './paths.js';

const MODULE_RECORDER = repoPath('test/support/module-recorder.mjs');
const HEAP_RECORDER = repoPath('test/support/heap-recorder.mjs');
const READY_TIMEOUT_MS = 20_000;

export interface ModulesLoaded {
  /** Every module the process loaded, as URLs, each once. */
  readonly urls: string[];
  /** Those the ES module loader loaded (import), CommonJS files imported from an ES module among them. */
  readonly imported: string[];
  readonly stdout: string;
  readonly code: number | null;
}

interface RunOptions {
  /** Written to the CLI's stdin. */
  readonly input?: string;
  /** The process is a daemon: once its stdout, or its stderr (the log), matches, it gets SIGTERM. */
  readonly stopWhen?: RegExp;
}

/**
 * Runs the compiled CLI with test/support/module-recorder.mjs and returns what it loaded.
 * `input` goes to its stdin. With `stopWhen`, the process is a daemon: once its stdout or stderr
 * matches, it gets SIGTERM and what it loaded until it exited is returned.
 */
export async function modulesLoaded(args: readonly string[], env: NodeJS.ProcessEnv, options: RunOptions = {}): Promise<ModulesLoaded> {
  const run = await recordedRun(MODULE_RECORDER, 'MODULE_RECORD_FILE', [CLI_BIN, ...args], env, options);
  const lines = run.record.split('\n').filter(Boolean);
  const urlsOf = (entries: string[]) => [...new Set(entries.map((entry) => entry.slice(entry.indexOf(' ') + 1)))];
  return { urls: urlsOf(lines), imported: urlsOf(lines.filter((line) => line.startsWith('import '))), stdout: run.stdout, code: run.code };
}

/** What test/support/heap-recorder.mjs records. */
export interface HeapAtExit {
  /** V8's heap spaces, name → bytes reserved, after the recorder's allocation. */
  readonly spaces: Record<string, number>;
  /** Whether V8 optimized the recorder's allocating function (with --allow-natives-syntax only). */
  readonly optimized?: boolean;
}

/**
 * Runs node with test/support/heap-recorder.mjs (the compiled CLI if `nodeArgs` starts with
 * CLI_BIN, or with --allow-natives-syntax then CLI_BIN): what it records at exit.
 */
export async function heapAtExit(nodeArgs: readonly string[], env: NodeJS.ProcessEnv, options: RunOptions = {}): Promise<HeapAtExit> {
  const run = await recordedRun(HEAP_RECORDER, 'HEAP_RECORD_FILE', nodeArgs, env, options);
  if (!run.record) throw new Error(`node exited (${run.code}) without recording its heap`);
  return JSON.parse(run.record) as HeapAtExit;
}

/** The size of V8's new space in a node process that has just started. */
export function freshNewSpaceBytes(): number {
  const fresh = spawnSync(process.execPath, ['-p', "require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size"], { encoding: 'utf8' });
  const size = Number(fresh.stdout.trim());
  if (!(size > 0)) throw new Error(`a fresh node reported no new space: ${fresh.stderr}`);
  return size;
}

async function recordedRun(recorder: string, recordVariable: string, nodeArgs: readonly string[], env: NodeJS.ProcessEnv, options: RunOptions): Promise<{ record: string; stdout: string; code: number | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-record-'));
  try {
    const record = join(dir, 'record');
    writeFileSync(record, '');
    // Without the harness's hooks (tap's, or the coverage preload), which would be recorded too.
    const [command, commandArgs] = withoutTapHooks(process.execPath, ['--import', recorder, ...nodeArgs]);
    const child = spawn(command, commandArgs, { env: { ...env, [recordVariable]: record, NODE_NO_WARNINGS: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const exited = once(child, 'exit') as Promise<[number | null]>;
    const stop = options.stopWhen;
    const timer = stop ? setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS) : undefined;
    let stopping = false;
    // Once: serve stops listening for SIGTERM when it gets the first, and a second one (its
    // exports printed in two chunks) would end it before it records anything at exit.
    const stopOnce = () => {
      if (!stopping && (stop?.test(stdout) || stop?.test(stderr))) {
        stopping = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      stopOnce();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      stopOnce();
    });
    child.stdin.end(options.input ?? '');
    const [code] = await exited;
    clearTimeout(timer);
    if (stop && !stopping) throw new Error(`the CLI never printed ${stop}: ${stderr.slice(-2000)}`);
    return { record: readFileSync(record, 'utf8'), stdout, code };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Our files among `urls`, by their paths in dist/src/ ('cli/bin.cjs', 'bundle/main.cjs'). */
export function ourFiles(urls: readonly string[]): string[] {
  return urls.filter((url) => url.includes('/dist/src/')).map((url) => url.slice(url.indexOf('/dist/src/') + '/dist/src/'.length));
}

/** The package names among `urls` (node_modules/<name>/ or node_modules/@scope/<name>/). */
export function packagesIn(urls: readonly string[]): Set<string> {
  const names = urls.map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]).filter((name): name is string => name !== undefined);
  return new Set(names);
}
