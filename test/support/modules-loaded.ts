import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withoutTapHooks } from '../../testkit/children.js';
import { CLI_MAIN } from './cli.js';
import { repoPath } from './paths.js';

const RECORDER = repoPath('test/support/module-recorder.mjs');
const READY_TIMEOUT_MS = 20_000;

export interface ModulesLoaded {
  /** Every module the process loaded, as URLs, each once. */
  readonly urls: string[];
  readonly stdout: string;
  readonly code: number | null;
}

/**
 * Runs the compiled CLI with test/support/module-recorder.mjs and returns what it loaded.
 * `input` goes to its stdin. With `stopWhen`, the process is a daemon: once its stdout matches,
 * it gets SIGTERM and what it loaded until it exited is returned.
 */
export async function modulesLoaded(args: readonly string[], env: NodeJS.ProcessEnv, options: { input?: string; stopWhen?: RegExp } = {}): Promise<ModulesLoaded> {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-modules-'));
  try {
    const record = join(dir, 'modules.txt');
    writeFileSync(record, '');
    // Without the harness's hooks (tap's, or the coverage preload), whose modules would be recorded too.
    const [command, commandArgs] = withoutTapHooks(process.execPath, ['--import', RECORDER, CLI_MAIN, ...args]);
    const child = spawn(command, commandArgs, { env: { ...env, MODULE_RECORD_FILE: record, NODE_NO_WARNINGS: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit') as Promise<[number | null]>;
    const stop = options.stopWhen;
    const timer = stop ? setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS) : undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stop?.test(stdout)) child.kill('SIGTERM');
    });
    child.stdin.end(options.input ?? '');
    const [code] = await exited;
    clearTimeout(timer);
    if (stop && !stop.test(stdout)) throw new Error(`the CLI never printed ${stop}: ${stderr.slice(-2000)}`);
    return { urls: [...new Set(readFileSync(record, 'utf8').split('\n').filter(Boolean))], stdout, code };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The package names among `urls` (node_modules/<name>/ or node_modules/@scope/<name>/). */
export function packagesIn(urls: readonly string[]): Set<string> {
  const names = urls.map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]).filter((name): name is string => name !== undefined);
  return new Set(names);
}
