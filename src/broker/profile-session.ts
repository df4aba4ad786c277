import type { Logger } from 'pino';
import type { AwsCredentials, CredentialExchanger, RefreshRequest, TokenRefresher, UserPoolTokens } from '../cognito/types.js';
import type { ProfileConfig, SignInMethod } from '../config/config.js';
import {
  type BrokerError,
  CredentialsPendingError,
  InternalError,
  isBrokerError,
  LoginRequiredError,
  NotSignedInError,
  RefreshLockTimeoutError,
  StoredSessionInvalidError,
  UpstreamMalformedError,
} from '../errors.js';
import { NO_REFRESH_LOCK, type RefreshLock } from '../store/refresh-lock.js';
import { type MirrorView, type SessionMirror } from '../store/session-mirror.js';
import { sameSignIn, type StoredSession, sessionFingerprint, sessionUser, storedIdentityId } from '../store/session-store.js';
import { backoffDelay } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { CREDENTIALS_POLICY, type Expiring, type FreshnessPolicy, ID_TOKEN_POLICY, isDue, isFresh, isUsable, refreshAt } from './freshness-policy.js';
import { endsSoonNotice, endsSoonWindowMs, loginRequiredNotice, type SessionNotice } from './session-notice.js';
import { INITIAL_STATE, nextSessionState, type SessionEvent, type SessionPhase, type SessionState } from './session-state.js';
import { IdentityPoolError } from '../errors.js';

/** A request waits at most this long for a refresh it needs: the SDKs give up after 1 s. */
export const REQUEST_WAIT_MS = 750;
/**
 * The session's tick: its one timer never sleeps longer than this. Each tick looks at the
 * keychain (a logout, a new login: followed within this time) and at the wall clock, so that
 * after a laptop wakes (monotonic timers stop during suspend) what expired meanwhile is
 * renewed within this time too. A refresh due sooner is run when due.
 */
export const STORE_POLL_MS = 5_000;
export { KEYCHAIN_TIMEOUT_MS } from '../store/session-mirror.js';
/** stop() waits this long for revocations under way (their Cognito calls have timeouts of their own). */
export const STOP_WAIT_MS = 3_000;

/** Ends a refresh token at the server (RevokeToken, or the provider's revocation endpoint); best effort, never throws for an upstream failure. */
export type RevokeRefreshToken = (request: RefreshRequest) => Promise<{ readonly done: boolean; readonly what: string }>;

export interface ProfileSessionDeps {
  readonly profile: ProfileConfig;
  /** The profile's keychain entry: read, watched, and (unless borrowed) written back. */
  readonly mirror: SessionMirror;
  /** Renews the ID token: the user pool (or OAuth provider) as the session was signed in, or a borrowed profile's owner. */
  readonly refresher: TokenRefresher;
  readonly identityPool: CredentialExchanger;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random?: () => number;
  /** Held around every use of the refresh token; default: none (a profile that never sends one). */
  readonly lock?: RefreshLock;
  /** Ends a rotated refresh token the keychain never held, once the session is dropped; default: none. */
  readonly revoke?: RevokeRefreshToken;
  /**
   * Keep the last ID and access tokens with the session in the keychain, and take up those
   * another process left there instead of refreshing: for commands without a daemon, which
   * run side by side. The daemon does neither.
   */
  readonly shareTokens?: boolean;
  /** Told of every change a user may see (the daemon's prompt file, its notifications); default: none. */
  readonly watcher?: SessionWatcher;
}

/**
 * Told after each transition that changes what a user may see: the phase, the credentials,
 * the sign-in, or that it ends soon. `raised` is the notice this transition raised: once
 * per refused refresh token, once per sign-in that ends soon. Called synchronously; it must
 * not throw, and what it does with I/O is its own business.
 */
export interface SessionWatcher {
  changed(status: ProfileStatus, raised: SessionNotice | undefined): void;
}

/** The session this cycle worked for was dropped (entry deleted, or another user's): the cycle ends. */
const DROPPED = Symbol('dropped');
type Dropped = typeof DROPPED;

/** Tokens a renewal brought, and `settled`: once what it rotated is persisted, whether the session still stands. */
interface Renewal {
  readonly tokens: UserPoolTokens;
  readonly settled: Promise<'go-on' | 'stop'>;
}

const SETTLED: Promise<'go-on' | 'stop'> = Promise.resolve('go-on');

export interface ProfileStatus {
  readonly profile: string;
  readonly phase: SessionPhase;
  /** Whose session the daemon holds: the pool's own name for the user (`cognito:username`). */
  readonly user?: string | undefined;
  /** How that session was signed in, and when (while the daemon holds it). */
  readonly signInMethod?: SignInMethod | undefined;
  readonly signedInAt?: string | undefined;
  /** When that sign-in ends by the profile's refreshTokenLifetime (absent: not known). */
  readonly signInEndsAt?: string | undefined;
  /** The sign-in ends soon (docs/notifications.md). */
  readonly endsSoon?: boolean | undefined;
  /** Where the session is kept ("keychain", …): the daemon's store, which may not be this shell's. */
  readonly secretStore?: string | undefined;
  readonly identityId?: string | undefined;
  readonly idTokenExpiresAt?: string | undefined;
  readonly credentialsExpireAt?: string | undefined;
  readonly lastRefreshAt?: string | undefined;
  readonly retryAt?: string | undefined;
  readonly lastError?: { readonly code: string; readonly message: string } | undefined;
  readonly upstreamCalls: Readonly<UpstreamCalls>;
}

interface UpstreamCalls {
  refresh: number;
  getId: number;
  getCredentials: number;
}

/**
 * One profile's session: drives the state machine in session-state.ts with the keychain,
 * Cognito and the clock. Reads are served from memory; at most one refresh runs at a time
 * and every caller that needs it shares it.
 */
export class ProfileSession {
  private state: SessionState = INITIAL_STATE;
  private inFlight: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** The outcome of the first refresh (see firstRefresh). */
  private first: Promise<BrokerError | undefined> | undefined;
  private readonly calls: UpstreamCalls = { refresh: 0, getId: 0, getCredentials: 0 };
  private readonly random: () => number;
  private readonly mirror: SessionMirror;
  private readonly lock: RefreshLock;
  /** Revocations of dropped tokens under way; stop() waits for them (bounded). */
  private readonly revoking = new Set<Promise<void>>();
  /** The key of the last notice raised (SessionNotice.key). */
  private lastNoticeKey: string | undefined;

  constructor(private readonly deps: ProfileSessionDeps) {
    this.random = deps.random ?? Math.random;
    this.mirror = deps.mirror;
    this.lock = deps.lock ?? NO_REFRESH_LOCK;
  }

  get name(): string {
    return this.deps.profile.name;
  }

  /** Known when the profile names its role: GetCredentialsForIdentity does not say. */
  get accountId(): string | undefined {
    return /^arn:[^:]+:iam::(\d{12}):/.exec(this.deps.profile.customRoleArn ?? '')?.[1];
  }

  get phase(): SessionPhase {
    return this.state.phase;
  }

  /** Begins the first refresh in the background. */
  start(): void {
    this.stopped = false;
    const cycle = this.refresh();
    this.first ??= cycle.then(() => this.state.lastError);
  }

  /**
   * How the first refresh since start() ended (begun now when the session was never
   * started): its error, or undefined when it succeeded. What a one-shot command reports:
   * not the outcome of a retry the session's backoff may have begun while the command was
   * busy with something else.
   */
  firstRefresh(): Promise<BrokerError | undefined> {
    return (this.first ??= this.refresh().then(() => this.state.lastError));
  }

  /**
   * Stops the timers, then makes one last attempt (within KEYCHAIN_TIMEOUT_MS) to write what
   * only memory holds, such as a rotated refresh token the keychain refused so far: after the
   * process ends nothing else knows it. Waits up to STOP_WAIT_MS for revocations under way.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    if (this.mirror.writable && this.mirror.pending) await this.flush();
    if (this.revoking.size > 0) await this.within(STOP_WAIT_MS, Promise.allSettled([...this.revoking]));
  }

  /** Credentials fit to hand to an SDK now, refreshing first when they are not. */
  async credentials(): Promise<AwsCredentials> {
    return this.freshCredentials() ?? this.read((s) => s.credentials, CREDENTIALS_POLICY);
  }

  /**
   * The same credentials without a promise when they are fresh, else undefined (then call
   * credentials()). The endpoint's hot path: nearly every request is answered from here.
   */
  freshCredentials(): AwsCredentials | undefined {
    return fresh(this.state.credentials, CREDENTIALS_POLICY, this.deps.clock.now());
  }

  /** An ID token (and its access token) fit to hand out now. */
  async tokens(): Promise<UserPoolTokens> {
    return this.freshTokens() ?? this.read((s) => s.tokens, ID_TOKEN_POLICY);
  }

  /** tokens() without a promise when they are fresh, else undefined. */
  freshTokens(): UserPoolTokens | undefined {
    return fresh(this.state.tokens, ID_TOKEN_POLICY, this.deps.clock.now());
  }

  /** Starts a refresh unless one runs, and resolves when it ends. Never rejects. */
  refresh(): Promise<void> {
    this.inFlight ??= this.runCycle().finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    return this.inFlight;
  }

  status(): ProfileStatus {
    const s = this.state;
    return {
      profile: this.name,
      phase: s.phase,
      user: s.user,
      signInMethod: s.session ? (s.session.method ?? 'password') : undefined,
      signedInAt: iso(s.session?.signedInAt),
      signInEndsAt: iso(this.signInEndsAt()),
      endsSoon: s.endsSoon === true ? true : undefined,
      identityId: s.identityId,
      idTokenExpiresAt: iso(s.tokens?.expiresAt),
      credentialsExpireAt: iso(s.credentials?.expiresAt),
      lastRefreshAt: iso(s.lastRefreshAt),
      retryAt: iso(s.retryAt),
      lastError: s.lastError ? { code: s.lastError.code, message: s.lastError.message } : undefined,
      upstreamCalls: { ...this.calls },
    };
  }

  // --- the read path -----------------------------------------------------------------

  /** The slow path, for what fresh() did not return: refresh (or wait for one), then judge. */
  private async read<T extends { expiresAt: number; issuedAt: number }>(pick: (s: SessionState) => T | undefined, policy: FreshnessPolicy): Promise<T> {
    if (this.mayRefreshOnRead()) await this.waitForRefresh();
    const after = pick(this.state);
    const now = this.deps.clock.now();
    if (isFresh(after, policy, now)) return after;
    // Cognito is failing or slow: what is still valid is better than an error, expired never.
    if (isUsable(after, policy, now) && this.state.phase !== 'signed-out') return after;
    throw this.state.lastError ?? new CredentialsPendingError(this.name);
  }

  /** A read may start a refresh, but never one the backoff or a refused sign-in forbids. */
  private mayRefreshOnRead(): boolean {
    const { phase, retryAt } = this.state;
    if (phase === 'login-required' || phase === 'signed-out') return this.inFlight !== undefined;
    if (phase === 'degraded') return retryAt === undefined || this.deps.clock.now() >= retryAt;
    return true;
  }

  private async waitForRefresh(): Promise<void> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.deps.clock.setTimeout(resolve, REQUEST_WAIT_MS);
    });
    try {
      await Promise.race([this.refresh(), timeout]);
    } finally {
      if (timer) this.deps.clock.clearTimeout(timer);
    }
  }

  // --- the refresh cycle ----------------------------------------------------------------

  private async runCycle(): Promise<void> {
    this.clearTimer();
    let tokens: UserPoolTokens | undefined;
    let identityId: string | undefined;
    let settled: Promise<'go-on' | 'stop'> = SETTLED;
    try {
      const begun = await this.begin();
      if (begun === DROPPED) return;
      ({ tokens, settled } = begun);
      // After the renewal: the session may have been taken up from another process (a kept IdentityId with it).
      identityId = this.state.identityId ?? storedIdentityId(begun.session, this.deps.profile);
      let credentials = this.state.credentials;
      if (isDue(credentials, CREDENTIALS_POLICY, this.deps.clock.now())) {
        const exchanged = await this.exchange(tokens, identityId);
        if (exchanged === DROPPED) return;
        ({ credentials, tokens, identityId } = exchanged);
      }
      // A rotated token is written while the ID token is exchanged: what the keychain said decides.
      if ((await settled) === 'stop') return;
      this.dispatch({ type: 'refresh-succeeded', at: this.deps.clock.now(), tokens, credentials: credentials as AwsCredentials, identityId: identityId as string });
      await this.keepIdentity(identityId as string);
    } catch (error) {
      if ((await settled) === 'stop') return;
      this.fail(asBrokerError(error), tokens, identityId);
    }
  }

  /**
   * The cycle's session (read from the keychain when none is held) and tokens fit to use,
   * renewed when due. Nothing held yet: the keychain is read under the refresh lock, and a
   * refresh that follows relies on that read (no second one); a held session's renewal
   * reads it again under the lock.
   */
  private async begin(): Promise<Renewal & { readonly session: StoredSession } | Dropped> {
    let release = !this.state.session && this.mirror.writable ? once(await this.lock.acquire()) : undefined;
    try {
      const session = await this.loadSession();
      if (!session) return DROPPED;
      // Read after the load: a sign-in by another user has dropped the first user's.
      const tokens = this.state.tokens;
      this.dispatch({ type: 'refresh-started' });
      const now = this.deps.clock.now();
      if (tokens && !isDue(tokens, ID_TOKEN_POLICY, now) && isUsable(tokens, ID_TOKEN_POLICY, now)) return { session, tokens, settled: SETTLED };
      let renewal: Renewal | Dropped;
      if (release) {
        const held = release;
        release = undefined;
        renewal = await this.spend({ kind: 'ours', entry: session, saved: true }, false, held);
      } else {
        renewal = await this.renewTokens();
      }
      return renewal === DROPPED ? DROPPED : { ...renewal, session: this.state.session ?? session };
    } finally {
      release?.();
    }
  }

  private async loadSession(): Promise<StoredSession | undefined> {
    const { session, phase, rejectedFingerprint } = this.state;
    if (session) return session;
    try {
      const stored = await this.mirror.load();
      if (!stored) {
        if (phase !== 'signed-out' || !this.state.lastError) this.dispatch({ type: 'signed-out', error: new NotSignedInError(this.name) });
        return undefined;
      }
      if (rejectedFingerprint !== undefined && sessionFingerprint(stored) === rejectedFingerprint) {
        // The refused session is still all there is: wait for a new sign-in. (Also after a
        // failed keychain read interrupted the waiting: never try the refused token again.)
        if (phase !== 'login-required') this.dispatch({ type: 'login-required', error: new LoginRequiredError(this.name, 'the user pool refused the refresh token in the keychain'), rejectedFingerprint });
        return undefined;
      }
      this.dispatch({ type: 'session-loaded', session: stored });
      return stored;
    } catch (error) {
      if (error instanceof StoredSessionInvalidError) {
        if (phase !== 'signed-out' || this.state.lastError?.code !== error.code) this.dispatch({ type: 'signed-out', error });
        return undefined;
      }
      throw error;
    }
  }

  /**
   * Fresh ID and access tokens, spending the refresh token under the refresh lock. Holding
   * it, the keychain is read first: another process may have rotated the token (it is taken
   * up, so only the newest is ever sent), signed out or in (followed, see follow()), or, for
   * commands without a daemon, left tokens fresh enough to use instead of refreshing (unless
   * `force`: the identity pool refused the ID token).
   */
  private async renewTokens(force = false): Promise<Renewal | Dropped> {
    const release = once(await this.lock.acquire());
    let seen: MirrorView | undefined;
    try {
      seen = this.mirror.writable ? await this.mirror.watch() : undefined;
      if (seen && this.follow(seen) === 'stop') {
        release();
        return DROPPED;
      }
    } catch (error) {
      release();
      throw error;
    }
    return this.spend(seen, force, release);
  }

  /**
   * The refresh itself, holding the lock with the keychain just read (`seen`; undefined for a
   * borrowed entry); gives the lock back (`release`) however it ends. A rotated token
   * replaces the held one in memory at once and is persisted while the caller goes on (the
   * exchange of the ID token); the lock is kept until the keychain has answered, so the next
   * holder reads the new token, and `settled` says whether the session still stands. A
   * keychain that refuses the write, or does not answer within KEYCHAIN_TIMEOUT_MS, does not
   * stop the session: the new token is all that will keep working, so it is kept in memory,
   * used, and written at the next look (a crash before then leaves the old token, which works
   * at the next start only inside the client's grace period).
   */
  private async spend(seen: MirrorView | undefined, force: boolean, release: () => void): Promise<Renewal | Dropped> {
    let settled: Promise<'go-on' | 'stop'> = SETTLED;
    try {
      const session = this.state.session;
      if (!session) return DROPPED;
      const shared = force ? undefined : this.sharedTokens(seen);
      if (shared) return { tokens: shared, settled };
      this.calls.refresh += 1;
      const { refreshToken, ...tokens } = await this.deps.refresher.refresh(refreshRequestFor(session));
      const rotated = refreshToken !== undefined && refreshToken !== session.refreshToken;
      if (rotated) this.dispatch({ type: 'session-loaded', session: { ...session, refreshToken } });
      if (this.mirror.writable && (rotated || this.deps.shareTokens)) {
        settled = this.mirror.persist(this.record(tokens)).then((view) => this.follow(view), () => 'go-on' as const);
      }
      return { tokens: this.usableOnArrival(tokens, ID_TOKEN_POLICY, 'user pool', 'an ID token that expires'), settled };
    } finally {
      void settled.finally(release);
    }
  }

  /** Tokens another command left with the entry just read, when this session shares them and they are not due. */
  private sharedTokens(seen: MirrorView | undefined): UserPoolTokens | undefined {
    if (!this.deps.shareTokens || !seen || (seen.kind !== 'ours' && seen.kind !== 'replaced')) return undefined;
    const stored = seen.entry.tokens;
    const now = this.deps.clock.now();
    if (!stored || isDue(stored, ID_TOKEN_POLICY, now) || !isUsable(stored, ID_TOKEN_POLICY, now)) return undefined;
    const { idToken, accessToken, expiresAt, issuedAt } = stored;
    return { idToken, accessToken, expiresAt, issuedAt };
  }

  /** The held session as the keychain should hold it: with this refresh's tokens when they are shared, never with stale ones. */
  private record(tokens: UserPoolTokens | undefined): StoredSession {
    const { tokens: _kept, ...session } = this.state.session as StoredSession;
    if (!this.deps.shareTokens || !tokens) return session;
    const { idToken, accessToken, expiresAt, issuedAt } = tokens;
    return { ...session, tokens: { idToken, accessToken, expiresAt, issuedAt } };
  }

  /**
   * GetId once, then GetCredentialsForIdentity. Cognito's advice, followed once each: an
   * unknown IdentityId means GetId again; a refused ID token means refresh it first. Still
   * refused with a fresh token and a kept IdentityId ("Logins don't match": the IdentityId
   * is another login's): GetId says which is this login's.
   */
  private async exchange(tokens: UserPoolTokens, keptId: string | undefined) {
    let idTokens = tokens;
    let identityId = keptId ?? (await this.getId(idTokens));
    let askedGetId = keptId === undefined;
    let renewedTokens = false;
    for (;;) {
      try {
        this.calls.getCredentials += 1;
        const credentials = await this.deps.identityPool.getCredentials(identityId, idTokens.idToken, this.deps.profile.customRoleArn);
        return { credentials: this.usableOnArrival(credentials, CREDENTIALS_POLICY, 'identity pool', 'credentials that expire'), tokens: idTokens, identityId };
      } catch (error) {
        if (!(error instanceof IdentityPoolError)) throw error;
        const refused = error.awsName === 'NotAuthorizedException';
        if (refused && !renewedTokens) {
          const renewed = await this.renewTokens(true);
          if (renewed === DROPPED || (await renewed.settled) === 'stop') return DROPPED;
          idTokens = renewed.tokens;
          renewedTokens = true;
        } else if ((refused || error.awsName === 'ResourceNotFoundException') && !askedGetId) {
          identityId = await this.getId(idTokens);
          askedGetId = true;
        } else {
          throw error;
        }
      }
    }
  }

  /**
   * A newly learned IdentityId goes into the session's keychain record, so the next start
   * skips GetId: persisted under the refresh lock (so it never lands over a token another
   * process just rotated). A keychain that refuses or hangs only costs a GetId at the next
   * start; the write is tried again at the next look.
   */
  private async keepIdentity(identityId: string): Promise<void> {
    const session = this.state.session;
    const { identityPoolId } = this.deps.profile;
    if (!session || !this.mirror.writable || storedIdentityId(session, this.deps.profile) === identityId) return;
    this.dispatch({ type: 'session-loaded', session: { ...session, identity: { identityPoolId, identityId } } });
    try {
      this.follow(await this.lock.hold(() => this.mirror.persist(this.record(this.state.tokens))));
    } catch (error) {
      if (!(error instanceof RefreshLockTimeoutError)) throw error;
      this.deps.logger.debug({ profile: this.name, code: error.code }, 'the IdentityId was not written: another process holds the refresh lock; it goes with the next write');
    }
  }

  /**
   * Applies what the keychain holds to the held session. `logout` deleted the entry: nothing
   * from it is served any more. Another refresh token is there: it is taken up (a new `login`,
   * or another process's rotation of this sign-in); another user's tokens and credentials are
   * dropped at once. A rotated token of ours that never reached the keychain is revoked when
   * the session it belongs to is dropped: nothing else knows it, and it would stay valid for
   * the refresh token's whole lifetime. Resolves 'stop' when the cycle under way must end.
   */
  private follow(view: MirrorView): 'go-on' | 'stop' {
    if (view.kind === 'ours' || view.kind === 'unknown') return 'go-on';
    const held = this.state.session;
    if (view.kind === 'deleted') {
      this.mirror.drop();
      this.revokeDropped(view.unsaved, undefined, 'the keychain entry was deleted (logout)');
      this.dispatch({ type: 'signed-out', error: new NotSignedInError(this.name) });
      return 'stop';
    }
    this.mirror.adopt(view.entry);
    this.revokeDropped(view.unsaved, view.entry, 'a new sign-in replaced the keychain entry');
    const sameUser = held !== undefined && sessionUser(view.entry) === sessionUser(held);
    this.dispatch({ type: 'session-replaced', session: view.entry, sameUser });
    return sameUser ? 'go-on' : 'stop';
  }

  private revokeDropped(unsaved: StoredSession | undefined, replacement: StoredSession | undefined, why: string): void {
    if (!unsaved || !this.deps.revoke || !this.mirror.writable) return;
    // Another process rotated this same sign-in: the keychain's token is a successor of the
    // one ours came from, and ending ours could end it too.
    if (replacement && sameSignIn(unsaved, replacement)) return;
    const revoking = this.revoke(unsaved, why).finally(() => this.revoking.delete(revoking));
    this.revoking.add(revoking);
  }

  private async revoke(session: StoredSession, why: string): Promise<void> {
    const fields = { profile: this.name, reason: why };
    try {
      const outcome = await (this.deps.revoke as RevokeRefreshToken)(refreshRequestFor(session));
      if (outcome.done) this.deps.logger.info({ ...fields, revoked: true }, `the session was dropped and its rotated refresh token, which never reached the keychain, is ended: ${outcome.what}`);
      else this.deps.logger.warn({ ...fields, revoked: false }, `the session was dropped, but its rotated refresh token, which never reached the keychain, could not be ended: ${outcome.what}`);
    } catch (error) {
      this.deps.logger.warn({ ...fields, revoked: false, code: asBrokerError(error).code }, 'the session was dropped, but its rotated refresh token, which never reached the keychain, could not be ended');
    }
  }

  /** At stop(): what only memory holds, written if the keychain and the lock allow it now. */
  private async flush(): Promise<void> {
    try {
      const view = await this.lock.hold(() => this.mirror.flush(), { waitMs: 0 });
      if (view.kind === 'ours' && view.saved) this.deps.logger.info({ profile: this.name }, 'stopping: the session held in memory is written to the keychain');
      else this.follow(view);
    } catch (error) {
      if (!(error instanceof RefreshLockTimeoutError)) throw error;
      this.deps.logger.warn({ profile: this.name, code: error.code }, 'stopping: the session held in memory was not written to the keychain; another process is refreshing it');
    }
  }

  private async within(ms: number, work: Promise<unknown>): Promise<void> {
    let timer: TimerHandle | undefined;
    try {
      await Promise.race([work, new Promise<void>((resolve) => (timer = this.deps.clock.setTimeout(resolve, ms)))]);
    } finally {
      if (timer) this.deps.clock.clearTimeout(timer);
    }
  }

  /**
   * What Cognito just issued must be usable by this machine's clock. When it is not (the
   * system clock is hours off, or the answer is wrong), renewing again at once would only
   * bring the same, as fast as the network allows: it is a failure, paced by the backoff.
   */
  private usableOnArrival<T extends Expiring>(item: T, policy: FreshnessPolicy, service: string, what: string): T {
    const now = this.deps.clock.now();
    const issued: Expiring | undefined = item;
    if (isUsable(issued, policy, now)) return item;
    throw new UpstreamMalformedError(
      `The Cognito ${service} issued ${what} at ${iso(item.expiresAt)}, already past by this machine's clock (${iso(now)}). Check the system time; retrying with backoff.`,
    );
  }

  private async getId(tokens: UserPoolTokens): Promise<string> {
    this.calls.getId += 1;
    return this.deps.identityPool.getId(tokens.idToken);
  }

  private fail(error: BrokerError, tokens: UserPoolTokens | undefined, identityId: string | undefined): void {
    if (error instanceof LoginRequiredError) {
      const refused = this.state.session;
      this.mirror.drop();
      this.dispatch({ type: 'login-required', error, rejectedFingerprint: refused ? sessionFingerprint(refused) : undefined });
      return;
    }
    const delay = backoffDelay(this.state.failures + 1, this.random, this.backoffCap());
    this.dispatch({ type: 'refresh-failed', error, retryAt: this.deps.clock.now() + delay, tokens, identityId });
  }

  /**
   * Short-lived sessions retry sooner: never wait more than a twelfth of a lifetime. Until
   * the session is read from the keychain, a retry is one local keychain read and no call to
   * Cognito: it is retried as often as the keychain is watched for a sign-in, so a keychain
   * unlocked after hours is picked up within STORE_POLL_MS.
   */
  private backoffCap(): number | undefined {
    if (!this.state.session) return STORE_POLL_MS;
    const c = this.state.credentials ?? this.state.tokens;
    return c ? (c.expiresAt - c.issuedAt) / 12 : undefined;
  }

  // --- transitions and timers ---------------------------------------------------------

  private dispatch(event: SessionEvent): void {
    const before = this.state;
    this.state = nextSessionState(before, event);
    if (before.phase !== this.state.phase || event.type === 'refresh-failed') this.logTransition(before.phase, event);
    this.tell(before);
  }

  /** The watcher hears of a transition that changed what a user sees, with the notice it raised. */
  private tell(before: SessionState): void {
    const after = this.state;
    const seen = (s: SessionState) => [s.phase, s.endsSoon === true, s.credentials?.expiresAt, s.session?.signedInAt];
    if (!this.deps.watcher || seen(before).every((value, i) => value === seen(after)[i])) return;
    const notice = this.notice();
    const raised = notice && notice.key !== this.lastNoticeKey ? notice : undefined;
    if (raised) this.lastNoticeKey = raised.key;
    try {
      this.deps.watcher.changed(this.status(), raised);
    } catch (error) {
      this.deps.logger.warn({ profile: this.name, error: (error as Error).message }, 'the session watcher failed');
    }
  }

  /** What the user should be told now, if anything. A profile borrowing a sign-in leaves that to its owner's session: one sign-in, one notice. */
  private notice(): SessionNotice | undefined {
    const s = this.state;
    if (this.deps.profile.signInFrom) return undefined;
    if (s.phase === 'login-required') return loginRequiredNotice(this.name, s.lastError?.message ?? new LoginRequiredError(this.name, 'the refresh token was refused').message, s.rejectedFingerprint);
    const endsAt = this.signInEndsAt();
    if (s.endsSoon && s.session && endsAt !== undefined) return endsSoonNotice(this.name, s.session.signedInAt, endsAt, this.deps.clock.now());
    return undefined;
  }

  /** The held sign-in's end by the profile's refreshTokenLifetime, counted from `login`. */
  private signInEndsAt(): number | undefined {
    const lifetime = this.deps.profile.refreshTokenLifetimeMs;
    const session = this.state.session;
    return lifetime === undefined || !session ? undefined : session.signedInAt + lifetime;
  }

  /** When the held sign-in starts to end soon; undefined once it does, or when its end is not known. */
  private endingAt(): number | undefined {
    const endsAt = this.signInEndsAt();
    const lifetime = this.deps.profile.refreshTokenLifetimeMs;
    if (endsAt === undefined || lifetime === undefined || this.state.endsSoon) return undefined;
    return endsAt - endsSoonWindowMs(lifetime);
  }

  private logTransition(from: SessionPhase, event: SessionEvent): void {
    const to = this.state.phase;
    const fields = { profile: this.name, from, to, event: event.type };
    if (event.type === 'refresh-failed') {
      this.deps.logger.warn({ ...fields, code: event.error.code, retryInMs: event.retryAt - this.deps.clock.now() }, event.error.message);
    } else if (event.type === 'login-required' || event.type === 'signed-out') {
      this.deps.logger.warn({ ...fields, code: event.error.code }, event.error.message);
    } else if (event.type === 'refresh-succeeded') {
      this.deps.logger.info({ ...fields, credentialsExpireAt: iso(event.credentials.expiresAt), idTokenExpiresAt: iso(event.tokens.expiresAt) }, 'session refreshed');
    } else {
      this.deps.logger.debug(fields, 'session phase changed');
    }
  }

  /** One timer per profile: the refresh due next, or the next tick (STORE_POLL_MS), whichever comes first. */
  private schedule(): void {
    this.clearTimer();
    if (this.stopped) return;
    const ending = this.endingAt();
    if (ending !== undefined && ending <= this.deps.clock.now()) this.dispatch({ type: 'sign-in-ending' });
    const at = Math.min(this.nextWakeAt(), this.endingAt() ?? Infinity);
    const delay = Math.min(STORE_POLL_MS, Math.max(0, at - this.deps.clock.now()));
    this.timer = this.deps.clock.setTimeout(() => this.onTimer(), delay);
  }

  private nextWakeAt(): number {
    const s = this.state;
    const now = this.deps.clock.now();
    if (s.phase === 'signed-out' || s.phase === 'login-required') return now + STORE_POLL_MS;
    if (s.phase === 'degraded') return s.retryAt ?? now;
    const tokensAt = s.tokens ? refreshAt(s.tokens, ID_TOKEN_POLICY) : now;
    const credentialsAt = s.credentials ? refreshAt(s.credentials, CREDENTIALS_POLICY) : now;
    return Math.min(tokensAt, credentialsAt);
  }

  private onTimer(): void {
    this.timer = undefined;
    // Signed out or refused: the cycle only looks in the keychain, so it runs on every tick.
    const waiting = this.state.phase === 'signed-out' || this.state.phase === 'login-required';
    if (waiting || this.nextWakeAt() <= this.deps.clock.now()) void this.refresh();
    else void this.watchStore().finally(() => this.inFlight ?? this.schedule());
  }

  /**
   * A running session follows the keychain (see follow()): one local keychain read per
   * STORE_POLL_MS, also while a write waits: a pending write goes with the read (a
   * compare-and-set), under the refresh lock when it is free at once (else the read alone). A
   * keychain that cannot be read, or does not answer within KEYCHAIN_TIMEOUT_MS, changes
   * nothing: the session runs from memory, its timers go on, and no second call is sent while
   * one hangs. Skipped while a refresh runs: the refresh reads the keychain itself.
   */
  private async watchStore(): Promise<void> {
    const current = this.state.session;
    if (!current || this.inFlight) return;
    const view = await this.look();
    if (this.inFlight || this.state.session !== current) return;
    this.follow(view);
    // Another user's session: refreshed at once, not at the next tick.
    if (this.state.phase === 'refreshing') void this.refresh();
  }

  private async look(): Promise<MirrorView> {
    if (!this.mirror.writable || !this.mirror.pending) return this.mirror.watch();
    try {
      return await this.lock.hold(() => this.mirror.watch(), { waitMs: 0 });
    } catch (error) {
      if (!(error instanceof RefreshLockTimeoutError)) throw error;
      return this.mirror.watch({ write: false });
    }
  }

  private clearTimer(): void {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** `release`, callable any number of times, acting once. */
function once(release: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release();
  };
}

function refreshRequestFor(session: StoredSession): RefreshRequest {
  const { method, refreshToken, username, cognitoUsername, clientSecret, deviceKey } = session;
  return { method, refreshToken, username, cognitoUsername, clientSecret, deviceKey };
}

function asBrokerError(error: unknown): BrokerError {
  if (isBrokerError(error)) return error;
  return new InternalError(`Unexpected error during refresh: ${error instanceof Error ? error.name : 'unknown'}`, { cause: error });
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function fresh<T extends Expiring>(item: T | undefined, policy: FreshnessPolicy, now: number): T | undefined {
  return isFresh(item, policy, now) ? item : undefined;
}
