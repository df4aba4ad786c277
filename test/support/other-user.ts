/**
 * Another OS user on this machine, for real: a system account made with useradd, and
 * processes run as it with runuser. Needs root, which CI has; elsewhere the tests that need
 * it are skipped (and fail in CI, where a skip would hide what they show).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { withoutTapHooks } from '../../testkit/children.js';

export const OTHER_USER = 'cbtest';

/** Whether another user can be had here; fails the test in CI when not. */
export function requireOtherUser(t: Test): boolean {
  const why = process.getuid?.() !== 0 ? 'not root (useradd and runuser need it)' : missingTools();
  if (why === undefined) {
    ensureUser();
    return true;
  }
  if (/^(?!0$|false$).+/i.test(process.env.CI ?? '')) t.fail(`another OS user is needed in CI: ${why}`);
  else (t.skip as unknown as (why: string) => unknown).call(t, `no other OS user here: ${why}`);
  return false;
}

export function otherUid(): number {
  return Number(execFileSync('id', ['-u', OTHER_USER], { encoding: 'utf8' }).trim());
}

function missingTools(): string | undefined {
  for (const tool of ['useradd', 'runuser', 'id']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is missing`;
    }
  }
  return undefined;
}

function ensureUser(): void {
  try {
    execFileSync('id', ['-u', OTHER_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', OTHER_USER], { stdio: 'ignore' });
  }
}

/**
 * runuser's command and arguments for argv as the other user, without the harness's hooks: the
 * coverage preload lives in this repository, which the other user may not be able to read (a
 * clone in a `mktemp -d` directory is 0700), and their process is a fixture, not our code.
 */
function asOtherUser(argv: readonly string[]): [string, string[]] {
  return withoutTapHooks('runuser', ['-u', OTHER_USER, '--', ...argv]);
}

let sharedNode: string | undefined;

/**
 * A node binary the other user can run: this one, unless it lives where they cannot reach
 * (Node 22 and 24 come from npx's cache under /root), then a copy in a world-readable
 * temp directory, removed when this process exits.
 */
function nodeForOtherUser(): string {
  if (sharedNode) return sharedNode;
  if (spawnSync(...asOtherUser([process.execPath, '-e', '0']), { stdio: 'ignore' }).status === 0) {
    return (sharedNode = process.execPath);
  }
  const dir = mkdtempSync('/tmp/cognito-broker-node-');
  chmodSync(dir, 0o755);
  const copy = join(dir, 'node');
  copyFileSync(process.execPath, copy);
  chmodSync(copy, 0o755);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (sharedNode = copy);
}

/** What the other user's listener saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface Squatter {
  readonly port: number;
  readonly child: ChildProcess;
  /** Every request it received so far. */
  requests(): SeenRequest[];
  stop(): Promise<void>;
}

/**
 * An HTTP listener run as the other user on `host`:`port` (0: a free port), that records
 * every request and answers each with plausible container credentials of its own, and
 * /proof with a made-up proof: what an attacker squatting the daemon's port would do.
 */
export function squat(host: string, port: number): Promise<Squatter> {
  return startSquatter(`${port}, ${JSON.stringify(host)}`, `${host}:${port}`);
}

/**
 * The same listener on a Unix socket at `path` (in a directory the other user may write),
 * for daemon.json's `socket`. Its `port` is 0.
 */
export function squatSocket(path: string): Promise<Squatter> {
  return startSquatter(JSON.stringify(path), path);
}

async function startSquatter(listenArgs: string, where: string): Promise<Squatter> {
  const code = `
    const http = require('node:http');
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        process.stdout.write(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }) + '\\n');
        const answer = req.url.startsWith('/proof') ? { proof: 'f'.repeat(64) }
          : { AccessKeyId: 'ASIAIMPOSTOR', SecretAccessKey: 'impostor-secret', Token: 'impostor-session', Expiration: new Date(Date.now() + 3600e3).toISOString(),
              IdToken: 'impostor.id.token', AccessToken: 'impostor.access.token', profiles: [], status: 'ok' };
        // Framed as the daemon frames its answers (Content-Length), so that a client would take it.
        const text = JSON.stringify(answer);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      });
    });
    server.listen(${listenArgs}, () => process.stdout.write('LISTENING ' + (server.address().port ?? 0) + '\\n'));
    process.stdin.on('end', () => process.exit(0)).resume();`;
  const child = spawn(...asOtherUser([nodeForOtherUser(), '-e', code]), { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 10_000;
  let listening: RegExpMatchArray | null = null;
  while (!(listening = /^LISTENING (\d+)$/m.exec(out))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the other user's listener did not start on ${where} (exit ${child.exitCode}): ${err.slice(-500)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    port: Number(listening[1]),
    child,
    requests: () => out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as SeenRequest),
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin?.end();
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
