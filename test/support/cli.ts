import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './paths.js';

/** The bin, as `npm test` builds it and package.json names it: what users run. */
export const CLI_BIN = join(REPO, 'dist', 'src', 'cli', 'bin.cjs');
const SERVE_READY_TIMEOUT_MS = 20_000;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the real CLI, compiled, as its own process, the way a user does. `npm test` builds
 * first; a dist/ older than src/ fails loudly rather than testing old code. Under tap, the
 * process reports coverage through test/support/tap-children.mjs.
 */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv, options: CliOptions = {}): ChildProcess {
  assertBuilt();
  const [command, ...rest] = [...(options.prefix ?? []), process.execPath, CLI_BIN, ...args] as [string, ...string[]];
  return spawn(command, rest, { env: { ...env, NODE_NO_WARNINGS: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface CliOptions {
  /** A command the CLI runs under, as a user types it before: ['keyctl', 'session', '-']. */
  readonly prefix?: readonly string[];
}

let built = false;
function assertBuilt(): void {
  if (built) return;
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  const main = statSync(CLI_BIN, { throwIfNoEntry: false });
  if (!main || newest(join(REPO, 'src')) > newest(join(REPO, 'dist', 'src'))) {
    throw new Error('dist/ is missing or older than src/: run `npm run build` (npm test does it)');
  }
  built = true;
}

export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv, input?: string, options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, env, options);
  const out = collect(child);
  child.stdin?.end(input ?? '');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, ...(await out) };
}

export interface ServeProcess {
  readonly child: ChildProcess;
  /** Variables from the `export NAME=value` lines serve printed. */
  readonly exports: Readonly<Record<string, string>>;
  /** Everything serve wrote to stderr so far (its log). */
  stderr(): string;
  /** Everything serve wrote to stdout (the shell lines). */
  stdout(): string;
  /** The master token (the token file's): opens every route, /status included. */
  master(): string;
  /** The profile's phase, from GET /status with the master token. */
  phase(profile?: string): Promise<string | undefined>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startServe(args: readonly string[], env: NodeJS.ProcessEnv, options: CliOptions = {}): Promise<ServeProcess> {
  const child = spawnCli(['serve', ...args], env, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + SERVE_READY_TIMEOUT_MS;
  while (!/AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/.test(stdout)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`serve did not start (exit ${child.exitCode}): ${stderr.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const exports: Record<string, string> = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], unquote(m[2] as string)]));
  // serve prints the token's value only to a terminal; what the shell line would carry is
  // in the token file it names, which is what an SDK reading the file sends too.
  const tokenFile = exports.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
  if (exports.AWS_CONTAINER_AUTHORIZATION_TOKEN === undefined && tokenFile) exports.AWS_CONTAINER_AUTHORIZATION_TOKEN = readFileSync(tokenFile, 'utf8');
  return {
    child,
    exports,
    stderr: () => stderr,
    stdout: () => stdout,
    master: () => masterToken(env),
    async phase(profile = 'default') {
      const base = new URL(exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).origin;
      const res = await fetch(`${base}/status`, { headers: { authorization: masterToken(env) } });
      const body = (await res.json()) as { profiles: { profile: string; phase: string }[] };
      return body.profiles.find((p) => p.profile === profile)?.phase;
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

/** The master token of the daemon that env's state directory names (daemon.json's token file). */
export function masterToken(env: NodeJS.ProcessEnv): string {
  const info = JSON.parse(readFileSync(join(env.XDG_STATE_HOME as string, 'cognito-broker', 'daemon.json'), 'utf8')) as { tokenFile: string };
  return readFileSync(info.tokenFile, 'utf8');
}

async function collect(child: ChildProcess): Promise<{ stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await once(child, 'close');
  return { stdout, stderr };
}

function unquote(value: string): string {
  return value.startsWith("'") ? value.slice(1, -1).replaceAll("'\\''", "'") : value;
}
