import type { Logger } from 'pino';
import type { ProfileConfig } from '../config/config.js';
import { isBrokerError } from '../errors.js';
import { type SessionStore, type StoredSession, sessionFingerprint } from './session-store.js';

/**
 * A keychain call of a running session (a write, the read that watches for logout and
 * login) is waited for at most this long. A keychain that never answers (an unlock prompt
 * nobody sees) must not stall the session: what it needs is in memory; a write is tried
 * again at the next look, a read at the next tick. Keychain calls take a few ms when they work.
 */
export const KEYCHAIN_TIMEOUT_MS = 3_000;

/** What the keychain holds, compared with the session the broker holds. */
export type MirrorView =
  /**
   * The held session's entry: the refresh token the held session came from (the base), or the
   * held one itself. `saved`: the keychain now holds what was to be persisted (or nothing was).
   */
  | { readonly kind: 'ours'; readonly entry: StoredSession; readonly saved: boolean }
  /** The entry is gone (`logout`). `unsaved`: a held session whose refresh token never reached the keychain. */
  | { readonly kind: 'deleted'; readonly unsaved: StoredSession | undefined }
  /** Another refresh token is there: a new `login` (any user), or a rotation by another process. */
  | { readonly kind: 'replaced'; readonly entry: StoredSession; readonly unsaved: StoredSession | undefined }
  /** Nothing is known: the keychain is locked, did not answer in time, holds what is not a session, or a call hangs. */
  | { readonly kind: 'unknown' };

const UNKNOWN: MirrorView = { kind: 'unknown' };
const TIMED_OUT = Symbol('timed out');

/** The timer half of the broker's Clock (injected, so the timeouts run in fake time in tests). */
export interface MirrorTimers {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SessionMirrorDeps {
  readonly profile: ProfileConfig;
  readonly sessions: SessionStore;
  readonly clock: MirrorTimers;
  readonly logger: Logger;
}

/**
 * The keychain entry of one profile as the broker's session sees it: the one place that
 * reads it for a running session and writes back what the session holds (a rotated refresh
 * token, a new IdentityId).
 *
 * It remembers the base: the fingerprint of the refresh token the keychain held when last
 * seen (read, written, or taken up). `persist` is a compare-and-set: it re-reads the entry
 * and writes only over the base or over the held session itself, never over a deleted entry
 * or another refresh token (a newer `login`, another process's rotation); those it reports,
 * and the session decides. One keychain call at a time, so an older value never lands last
 * and a hung call is never stacked; each waited for at most KEYCHAIN_TIMEOUT_MS. A write that
 * fails or times out stays pending and goes with the next look (`watch`), so the entry keeps
 * being watched while it waits.
 */
export class SessionMirror {
  #base: string | undefined;
  #pending: StoredSession | undefined;
  /** The keychain call under way (a read, or a read and a write), if any. */
  #busy: Promise<MirrorView> | undefined;
  /** Bumped when the held session changes hands (load, adopt, drop): a late answer for an earlier one changes nothing. */
  #generation = 0;
  /** A write was asked for since the call under way read the entry. */
  #writeWanted = false;
  /** One warning per stretch of failed writes, not one every few seconds. */
  #warned = false;

  constructor(private readonly deps: SessionMirrorDeps) {}

  /** False for a borrowed entry (signInFrom): it is read, never written. */
  get writable(): boolean {
    return this.deps.sessions.writable;
  }

  /** Something held is not known to be in the keychain yet. */
  get pending(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * The entry, to start a session from; it becomes the base. No timeout: a first read may
   * wait for an unlock prompt, and nothing is being served yet. Throws as SessionStore.load.
   */
  async load(): Promise<StoredSession | undefined> {
    const generation = this.#reset();
    const entry = await this.deps.sessions.load(this.deps.profile);
    if (generation === this.#generation) this.#base = entry && sessionFingerprint(entry);
    return entry;
  }

  /**
   * Compare-and-set: writes `session` unless the entry was deleted or holds another refresh
   * token. Resolves with what the keychain holds; never rejects. Not called for a borrowed entry.
   */
  persist(session: StoredSession): Promise<MirrorView> {
    this.#pending = session;
    return this.#timed(this.#sync(true));
  }

  /**
   * One look at the entry: what `persist` reports, writing what is pending on the way (unless
   * `write` is false). While a keychain call hangs, resolves `unknown` at once.
   */
  watch(options: { readonly write?: boolean } = {}): Promise<MirrorView> {
    if (this.#busy) return Promise.resolve(UNKNOWN);
    return this.#timed(this.#sync(options.write !== false));
  }

  /** One last persist of what is pending, at shutdown; `unknown` when nothing is pending. */
  flush(): Promise<MirrorView> {
    return this.#pending ? this.#timed(this.#sync(true)) : Promise.resolve(UNKNOWN);
  }

  /** The session takes up `entry` (found by a look): it is the base now, and nothing of before is written. */
  adopt(entry: StoredSession): void {
    this.#reset();
    this.#base = sessionFingerprint(entry);
  }

  /** The held session is gone (signed out, refused): nothing of it is written. */
  drop(): void {
    this.#reset();
  }

  #reset(): number {
    this.#pending = undefined;
    this.#base = undefined;
    this.#writeWanted = false;
    this.#warned = false;
    return ++this.#generation;
  }

  /** Starts a look, or joins the one under way, which then writes the newest pending session too when asked. */
  #sync(write: boolean): Promise<MirrorView> {
    if (write && this.writable) this.#writeWanted = true;
    this.#busy ??= this.#run().finally(() => (this.#busy = undefined));
    return this.#busy;
  }

  async #run(): Promise<MirrorView> {
    let view: MirrorView;
    do {
      const target = this.#writeWanted ? this.#pending : undefined;
      this.#writeWanted = false;
      view = await this.#once(target);
      // A newer session (or a write asked for) came while this call ran: it goes next.
    } while (view.kind === 'ours' && this.#writeWanted);
    return view;
  }

  async #once(target: StoredSession | undefined): Promise<MirrorView> {
    const generation = this.#generation;
    let entry: StoredSession | undefined;
    try {
      entry = await this.deps.sessions.load(this.deps.profile);
    } catch (error) {
      // Locked, or an entry that is not a session of this pool: nothing is written over it.
      if (target) this.#warnUnwritten(error);
      return UNKNOWN;
    }
    if (generation !== this.#generation) return UNKNOWN;
    const held = this.#pending;
    const unsaved = held && sessionFingerprint(held) !== this.#base ? held : undefined;
    if (!entry) return { kind: 'deleted', unsaved };
    const found = sessionFingerprint(entry);
    if (found !== this.#base && (!held || found !== sessionFingerprint(held))) return { kind: 'replaced', entry, unsaved };
    if (!target || JSON.stringify(entry) === JSON.stringify(target)) {
      if (target) this.#landed(target);
      return { kind: 'ours', entry, saved: this.#pending === undefined };
    }
    try {
      await this.deps.sessions.save(this.deps.profile, target);
    } catch (error) {
      this.#warnUnwritten(error);
      return { kind: 'ours', entry, saved: false };
    }
    // A write that hung and landed after the session changed hands: nothing here is about it any more.
    if (generation !== this.#generation) return UNKNOWN;
    this.#landed(target);
    return { kind: 'ours', entry: target, saved: this.#pending === undefined };
  }

  #landed(written: StoredSession): void {
    this.#base = sessionFingerprint(written);
    if (this.#pending === written) {
      this.#pending = undefined;
      this.#warned = false;
    }
  }

  #warnUnwritten(error: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    const code = isBrokerError(error) ? error.code : 'BRK_ERR_INTERNAL';
    this.deps.logger.warn(
      { profile: this.deps.profile.name, code },
      'the session (a rotated refresh token, a new IdentityId) could not be written to the keychain; it is kept in memory and written again at the next look at the keychain (every 5 s)',
    );
  }

  /** What `call` resolves to, or `unknown` after KEYCHAIN_TIMEOUT_MS (the call goes on). */
  async #timed(call: Promise<MirrorView>): Promise<MirrorView> {
    let timer: unknown;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = this.deps.clock.setTimeout(() => resolve(TIMED_OUT), KEYCHAIN_TIMEOUT_MS);
    });
    try {
      const result = await Promise.race([call, timeout]);
      if (result !== TIMED_OUT) return result;
      this.#warnTimeout();
      return UNKNOWN;
    } finally {
      if (timer !== undefined) this.deps.clock.clearTimeout(timer);
    }
  }

  #warnTimeout(): void {
    const rotated = this.#pending !== undefined && sessionFingerprint(this.#pending) !== this.#base;
    this.deps.logger.warn(
      { profile: this.deps.profile.name, code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', timeoutMs: KEYCHAIN_TIMEOUT_MS },
      rotated
        ? 'the keychain did not answer the write of the rotated refresh token in time; it is kept in memory and written again at the next look at the keychain'
        : 'the keychain did not answer in time; the session goes on from memory and looks again at the next tick',
    );
  }
}
