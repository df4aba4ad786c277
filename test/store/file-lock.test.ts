import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { RefreshLockTimeoutError } from '../../src/errors.js';
import { createLogger } from '../../src/log/create-logger.js';
import { FileLock, LOCK_STALE_MS, refreshLockFile } from '../../src/store/file-lock.js';
import { LogCapture } from '../support/session-harness.js';

/** Real time, with bounds short enough for a test (the real ones are in seconds). */
const STALE_MS = 300;
const HEARTBEAT_MS = 50;

function dir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'cognito-broker-lock-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function lockIn(stateDir: string, options: Partial<ConstructorParameters<typeof FileLock>[1]> = {}) {
  const logs = new LogCapture();
  const lock = new FileLock(refreshLockFile(stateDir, 'default'), {
    profile: 'default',
    staleMs: STALE_MS,
    heartbeatMs: HEARTBEAT_MS,
    waitMs: 2_000,
    retryMs: 10,
    logger: createLogger({ level: 'trace', destination: logs }),
    ...options,
  });
  return { lock, logs };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid as number;
}

function writeForeignLock(file: string, pid: number, ageMs = 0): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify({ pid, host: hostname(), nonce: 'f'.repeat(16), at: Date.now() - ageMs }), { mode: 0o600 });
  const at = new Date(Date.now() - ageMs);
  utimesSync(file, at, at);
}

t.test('the lock is a file created exclusively, 0600 in a 0700 directory, naming its holder, removed on release', async (t) => {
  const stateDir = dir(t);
  const { lock } = lockIn(stateDir);
  t.equal(lock.file, join(stateDir, 'locks', 'default.lock'));
  const seen = await lock.hold(async () => {
    const stat = statSync(lock.file);
    return { mode: stat.mode & 0o777, dirMode: statSync(join(stateDir, 'locks')).mode & 0o777, owner: JSON.parse(readFileSync(lock.file, 'utf8')) as Record<string, unknown> };
  });
  t.same(seen, { mode: 0o600, dirMode: 0o700, owner: { pid: process.pid, host: hostname(), nonce: seen.owner.nonce, at: seen.owner.at } });
  t.match(seen.owner, { nonce: /^[0-9a-f]{16}$/, at: Number });
  t.notOk(existsSync(lock.file), 'removed on release');
  await t.rejects(lock.hold(async () => Promise.reject(new Error('work failed'))), /work failed/);
  t.notOk(existsSync(lock.file), 'also when the work fails');
});

t.test('holders never overlap, across lock objects on the same file (as processes would be)', async (t) => {
  const stateDir = dir(t);
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(Array.from({ length: 6 }, (_, i) => lockIn(stateDir).lock.hold(async () => {
    inside += 1;
    most = Math.max(most, inside);
    await new Promise((resolve) => setTimeout(resolve, 20));
    order.push(i);
    inside -= 1;
  })));
  t.equal(most, 1, 'one holder at a time');
  t.equal(order.length, 6, 'every one held it in turn');
});

t.test('a lock whose process is gone is taken over at once, and the takeover logged', async (t) => {
  const stateDir = dir(t);
  const { lock, logs } = lockIn(stateDir, { waitMs: 0 });
  writeForeignLock(lock.file, await deadPid());
  t.equal(await lock.hold(async () => 'held'), 'held', 'no wait even with waitMs 0: its pid is not running');
  t.ok(logs.lines.some((l) => /took over a stale refresh lock/.test(String(l.msg))));
});

t.test(`a lock nobody touched for the stale bound (${LOCK_STALE_MS / 1000} s by default) is taken over, even though its pid runs`, async (t) => {
  const stateDir = dir(t);
  const { lock } = lockIn(stateDir);
  // Our own parent runs: a holder stopped (Ctrl-Z) or of another machine looks like this.
  writeForeignLock(lock.file, process.ppid, STALE_MS + 1_000);
  const started = Date.now();
  t.equal(await lock.hold(async () => 'held'), 'held');
  t.ok(Date.now() - started < STALE_MS, 'without waiting for the holder');
});

t.test('a live holder keeps its lock fresh: another waits, then gets RefreshLockTimeoutError naming the pid', async (t) => {
  const stateDir = dir(t);
  const holder = lockIn(stateDir).lock;
  const waiter = lockIn(stateDir, { waitMs: 3 * STALE_MS }).lock;
  let release!: () => void;
  // A free lock is taken within the call (its file calls are synchronous).
  const holding = holder.hold(() => new Promise<void>((resolve) => (release = resolve)));
  t.ok(existsSync(holder.file), 'held');
  const error = await waiter.hold(async () => 'held').catch((e: unknown) => e);
  t.type(error, RefreshLockTimeoutError, `still held after ${3 * STALE_MS} ms, three times the stale bound: the heartbeat kept it fresh`);
  t.match(error, { code: 'BRK_ERR_REFRESH_LOCK_TIMEOUT', retryable: true, statusCode: 503, message: new RegExp(`pid ${process.pid}`) });
  await t.rejects(waiter.hold(async () => 'held', { waitMs: 0 }), RefreshLockTimeoutError, 'waitMs 0: refused at once');
  release();
  await holding;
  t.equal(await waiter.hold(async () => 'held', { waitMs: 0 }), 'held', 'free once released');
});

t.test('a lock directory that cannot be used: the work runs without the lock, with one warning', async (t) => {
  const stateDir = dir(t);
  // "locks" is a file: no lock can be made there.
  writeFileSync(join(stateDir, 'locks'), '');
  const { lock, logs } = lockIn(stateDir);
  t.equal(await lock.hold(async () => 'ran'), 'ran');
  t.equal(await lock.hold(async () => 'ran again'), 'ran again');
  t.equal(logs.lines.filter((l) => /refresh lock cannot be used here/.test(String(l.msg))).length, 1);
});

t.test('a lock directory others can open is closed to them first', async (t) => {
  const stateDir = dir(t);
  mkdirSync(join(stateDir, 'locks'), { mode: 0o777 });
  const { chmodSync } = await import('node:fs');
  chmodSync(join(stateDir, 'locks'), 0o777);
  const { lock } = lockIn(stateDir);
  await lock.hold(async () => undefined);
  t.equal(statSync(join(stateDir, 'locks')).mode & 0o777, 0o700);
});
