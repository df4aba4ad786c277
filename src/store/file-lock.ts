import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { RefreshLockTimeoutError } from '../errors.js';
import { holdLock, type RefreshLock } from './refresh-lock.js';

/**
 * A lock file not touched for this long is taken over: its holder touches it every
 * LOCK_HEARTBEAT_MS while it holds it, so it is frozen (stopped with Ctrl-Z, a machine that
 * slept) or gone (a lock of another machine sharing the home directory, whose pid means
 * nothing here).
 */
export const LOCK_STALE_MS = 30_000;
/** How often a holder touches its lock file (its mtime), so a live holder never looks stale. */
export const LOCK_HEARTBEAT_MS = 5_000;
/**
 * How long a refresh waits for another process's. A holder reads the keychain (at most 3 s),
 * refreshes (the SDK's timeouts: 3 s to connect, 5 s to answer, one retry), and writes the
 * keychain (3 s): well under this unless it hangs, and a hung holder stops touching its lock.
 */
export const LOCK_WAIT_MS = 60_000;
/** Between two tries at a lock another process holds. */
export const LOCK_RETRY_MS = 50;

/** The refresh lock of one profile's keychain entry: `<stateDir>/locks/<profile>.lock`. */
export function refreshLockFile(stateDir: string, profile: string): string {
  return join(stateDir, 'locks', `${profile}.lock`);
}

/** What a lock file holds: who holds it. No secret. */
interface Owner {
  readonly pid: number;
  readonly host: string;
  /** Tells this holding from an earlier one of the same process. */
  readonly nonce: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** A lock file as read: its text and inode tell one holding from the next. */
interface Seen {
  readonly text: string;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly owner: Owner | undefined;
}

export interface FileLockOptions {
  /** The profile, for the error a timeout raises. */
  readonly profile: string;
  readonly logger?: Logger | undefined;
  readonly staleMs?: number;
  readonly heartbeatMs?: number;
  readonly waitMs?: number;
  readonly retryMs?: number;
  /** Whether a process of this machine runs; by default signal 0 asks the OS. */
  readonly isRunning?: (pid: number) => boolean;
}

/**
 * The RefreshLock across the user's processes: a file created with O_EXCL (mode 0600, in a
 * directory of the user's, 0700), holding its owner's pid and host. A lock whose owner has
 * died (same host, pid gone) or that nobody touched for LOCK_STALE_MS is taken over, under a
 * second O_EXCL file so that two processes never both take over the same stale lock.
 *
 * The file calls are synchronous: a few local system calls, done at most once per refresh,
 * never on the request path; it keeps a free lock's acquisition within one turn of the event
 * loop. A directory that cannot hold the lock (read-only, another user's) does not stop
 * refreshing: it is logged once and the refresh goes on without the lock, as before it existed.
 */
export class FileLock implements RefreshLock {
  #warned = false;
  readonly #staleMs: number;
  readonly #heartbeatMs: number;
  readonly #waitMs: number;
  readonly #retryMs: number;
  readonly #isRunning: (pid: number) => boolean;

  constructor(
    readonly file: string,
    private readonly options: FileLockOptions,
  ) {
    this.#staleMs = options.staleMs ?? LOCK_STALE_MS;
    this.#heartbeatMs = options.heartbeatMs ?? LOCK_HEARTBEAT_MS;
    this.#waitMs = options.waitMs ?? LOCK_WAIT_MS;
    this.#retryMs = options.retryMs ?? LOCK_RETRY_MS;
    this.#isRunning = options.isRunning ?? isRunning;
  }

  acquire(options: { readonly waitMs?: number } = {}): Promise<() => void> {
    return this.#acquire(options.waitMs ?? this.#waitMs);
  }

  hold<T>(work: () => Promise<T>, options: { readonly waitMs?: number } = {}): Promise<T> {
    return holdLock(this, work, options);
  }

  async #acquire(waitMs: number): Promise<() => void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      let seen: Seen | undefined;
      try {
        const mine = this.#create();
        if (mine) return this.#held(mine);
        seen = this.#look();
        // Released between the two calls: try again at once.
        if (!seen) continue;
        if (this.#isStale(seen) && this.#takeOver(seen)) continue;
      } catch (error) {
        return this.#unavailable(error);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new RefreshLockTimeoutError(this.options.profile, describe(seen), waitMs);
      await sleep(Math.min(this.#retryMs, left));
    }
  }

  /** The lock, when it was free; undefined when another process holds it. */
  #create(): Owner | undefined {
    const dir = dirname(this.file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    assertPrivateDir(dir);
    let fd: number;
    try {
      fd = openSync(this.file, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw error;
    }
    const owner: Owner = { pid: process.pid, host: hostname(), nonce: randomBytes(8).toString('hex'), at: Date.now() };
    try {
      writeSync(fd, JSON.stringify(owner));
    } catch (error) {
      rmSync(this.file, { force: true });
      throw error;
    } finally {
      closeSync(fd);
    }
    return owner;
  }

  #look(): Seen | undefined {
    try {
      const stat = statSync(this.file);
      const text = readFileSync(this.file, 'utf8');
      return { text, ino: stat.ino, mtimeMs: stat.mtimeMs, owner: parseOwner(text) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  #isStale(seen: Seen): boolean {
    if (Date.now() - seen.mtimeMs > this.#staleMs) return true;
    // An owner still writing its pid (an empty file) is judged by age alone.
    const owner = seen.owner;
    return owner !== undefined && owner.host === hostname() && !this.#isRunning(owner.pid);
  }

  /**
   * Removes the stale lock `seen`, unless another process is taking it over now or has
   * already taken it (a new holding has another text or inode). True when it is gone.
   */
  #takeOver(seen: Seen): boolean {
    const breaker = `${this.file}.break`;
    let fd: number;
    try {
      fd = openSync(breaker, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A process killed between its two calls here leaves this file: removed once old.
      const stat = statSync(breaker, { throwIfNoEntry: false });
      if (stat && Date.now() - stat.mtimeMs > this.#staleMs) rmSync(breaker, { force: true });
      return false;
    }
    try {
      const again = this.#look();
      if (!again) return true;
      if (again.ino !== seen.ino || again.text !== seen.text || !this.#isStale(again)) return false;
      unlinkSync(this.file);
      this.options.logger?.info({ profile: this.options.profile, holder: describe(again) }, 'took over a stale refresh lock (its process is gone or stopped)');
      return true;
    } finally {
      closeSync(fd);
      rmSync(breaker, { force: true });
    }
  }

  #held(owner: Owner): () => void {
    const heartbeat = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(this.file, now, now);
      } catch {
        // Gone (taken over after this process stood still): releasing finds out.
      }
    }, this.#heartbeatMs);
    heartbeat.unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      try {
        // Only our own holding: after a takeover the file is another process's.
        if (this.#look()?.owner?.nonce === owner.nonce) unlinkSync(this.file);
      } catch {
        // Already gone.
      }
    };
  }

  #unavailable(error: unknown): () => void {
    if (!this.#warned) {
      this.#warned = true;
      const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : 'unknown');
      this.options.logger?.warn({ profile: this.options.profile, lockFile: this.file, code }, 'the refresh lock cannot be used here; refreshing without it (other cognito-broker processes may spend the same refresh token at the same moment)');
    }
    return () => undefined;
  }
}

/** The lock's directory must be the user's own and closed to others: another user could hold our lock forever. */
function assertPrivateDir(dir: string): void {
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
  if (uid === undefined) return;
  if (stat.uid !== uid) throw Object.assign(new Error(`${dir} belongs to another user`), { code: 'EACCES' });
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

function parseOwner(text: string): Owner | undefined {
  try {
    const value = JSON.parse(text) as Partial<Record<keyof Owner, unknown>>;
    const ok = Number.isInteger(value.pid) && typeof value.host === 'string' && typeof value.nonce === 'string' && typeof value.at === 'number';
    return ok ? (value as Owner) : undefined;
  } catch {
    return undefined;
  }
}

function describe(seen: Seen | undefined): string {
  const owner = seen?.owner;
  if (!owner) return 'its pid not yet written';
  return owner.host === hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on ${owner.host}`;
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
