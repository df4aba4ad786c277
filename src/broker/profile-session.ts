import type { Logger } from 'pino';
import type { AwsCredentials, CredentialExchanger, RefreshRequest, TokenRefresher, UserPoolTokens } from '../cognito/types.js';
import type { ProfileConfig } from '../config/config.js';
import {
  type BrokerError,
  CredentialsPendingError,
  InternalError,
  isBrokerError,
  LoginRequiredError,
  NotSignedInError,
  StoredSessionInvalidError,
  UpstreamMalformedError,
} from '../errors.js';
import { type SessionStore, type StoredSession, sessionFingerprint, sessionUser, storedIdentityId } from '../store/session-store.js';
import { backoffDelay } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { CREDENTIALS_POLICY, type Expiring, type FreshnessPolicy, ID_TOKEN_POLICY, isDue, isFresh, isUsable, refreshAt } from './freshness-policy.js';
import { INITIAL_STATE, nextSessionState, type SessionEvent, type SessionPhase, type SessionState } from './session-state.js';
import { IdentityPoolError } from '../errors.js';

/** A request waits at most this long for a refresh it needs: the SDKs give up after 1 s. */
export const REQUEST_WAIT_MS = 750;
/** While signed out or refused, look in the keychain this often for a new sign-in. */
export const STORE_POLL_MS = 5_000;
/**
 * Timers never sleep longer than this, so that after a laptop wakes (monotonic timers
 * stop during suspend) the wall clock is looked at again within this time.
 */
export const TIMER_MAX_MS = 5 * 60_000;
/**
 * A keychain call of a running session (the write of a rotated refresh token, the read
 * that watches for logout and login) is waited for at most this long. A keychain that
 * never answers (an unlock prompt nobody sees) must not stall the session: what it needs
 * is in memory, a write is tried again at the next cycle, a read at the next tick. Keychain
 * calls take a few ms when they work.
 */
export const KEYCHAIN_TIMEOUT_MS = 3_000;
const TIMED_OUT = Symbol('timed out');

export interface ProfileSessionDeps {
  readonly profile: ProfileConfig;
  readonly sessions: SessionStore;
  readonly userPool: TokenRefresher;
  readonly identityPool: CredentialExchanger;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random?: () => number;
}

export interface ProfileStatus {
  readonly profile: string;
  readonly phase: SessionPhase;
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
  /** A session (rotated token, new IdentityId) not known to be in the keychain (refused, or not answered yet): written again at every cycle. */
  private unsaved: StoredSession | undefined;
  /** The keychain write of such a session still under way; at most one at a time, so an older token never lands last. */
  private writing: Promise<void> | undefined;
  /** The keychain read of watchStore still under way (a keychain that hangs): no second one meanwhile. */
  private watching: Promise<unknown> | undefined;
  private readonly calls: UpstreamCalls = { refresh: 0, getId: 0, getCredentials: 0 };
  private readonly random: () => number;

  constructor(private readonly deps: ProfileSessionDeps) {
    this.random = deps.random ?? Math.random;
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
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
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
    let session: StoredSession | undefined;
    let tokens: UserPoolTokens | undefined;
    let identityId: string | undefined;
    try {
      // A write still under way (a keychain that hangs) is not waited for again: it ends on its own.
      if (this.unsaved && !this.writing) await this.saveRotated(this.unsaved);
      session = await this.loadSession();
      if (!session) return;
      // Read after the load: a sign-in by another user has dropped the first user's.
      tokens = this.state.tokens;
      identityId = this.state.identityId ?? storedIdentityId(session, this.deps.profile);
      this.dispatch({ type: 'refresh-started' });
      const now = this.deps.clock.now();
      if (isDue(tokens, ID_TOKEN_POLICY, now) || !isUsable(tokens, ID_TOKEN_POLICY, now)) {
        tokens = await this.refreshTokens(session);
      }
      let credentials = this.state.credentials;
      if (isDue(credentials, CREDENTIALS_POLICY, now)) {
        ({ credentials, tokens, identityId } = await this.exchange(session, tokens, identityId));
      }
      this.dispatch({ type: 'refresh-succeeded', at: this.deps.clock.now(), tokens, credentials: credentials as AwsCredentials, identityId: identityId as string });
      this.keepIdentity(identityId as string);
    } catch (error) {
      this.fail(asBrokerError(error), session, tokens, identityId);
    }
  }

  private async loadSession(): Promise<StoredSession | undefined> {
    const { session, phase, rejectedFingerprint } = this.state;
    if (session) return session;
    try {
      const stored = await this.deps.sessions.load(this.deps.profile);
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

  private async refreshTokens(loaded: StoredSession): Promise<UserPoolTokens> {
    // A rotation earlier in this cycle replaced the session: only the newest token is sent.
    const session = this.state.session ?? loaded;
    this.calls.refresh += 1;
    const { refreshToken, ...tokens } = await this.deps.userPool.refresh(refreshRequestFor(session));
    if (refreshToken !== undefined && refreshToken !== session.refreshToken) await this.keepRotated({ ...session, refreshToken });
    return this.usableOnArrival(tokens, ID_TOKEN_POLICY, 'user pool', 'an ID token that expires');
  }

  /**
   * The app client rotates refresh tokens: the old one works only for its grace period
   * (up to 60 s), so the new one replaces it in memory at once and goes to the keychain
   * before the tokens are used. A crash before the write leaves the old token, which works
   * at the next start only inside its grace period. A keychain that refuses the write, or
   * does not answer within KEYCHAIN_TIMEOUT_MS, does not stop the session: the new
   * token is all that will keep working, so it is kept in memory and written again at
   * every cycle.
   */
  private async keepRotated(session: StoredSession): Promise<void> {
    this.dispatch({ type: 'session-loaded', session });
    await this.saveRotated(session);
  }

  private async saveRotated(session: StoredSession): Promise<void> {
    this.unsaved = session;
    if ((await this.withinKeychainTimeout(this.writeUnsaved())) === TIMED_OUT) {
      this.deps.logger.warn(
        { profile: this.name, code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', timeoutMs: KEYCHAIN_TIMEOUT_MS },
        'the keychain did not answer the write of the rotated refresh token in time; it is kept in memory and written again at the next refresh',
      );
    }
  }

  /** What `call` resolves to, or TIMED_OUT after KEYCHAIN_TIMEOUT_MS (the call goes on). */
  private async withinKeychainTimeout<T>(call: Promise<T>): Promise<T | typeof TIMED_OUT> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = this.deps.clock.setTimeout(() => resolve(TIMED_OUT), KEYCHAIN_TIMEOUT_MS);
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      if (timer) this.deps.clock.clearTimeout(timer);
    }
  }

  /**
   * Writes the newest unsaved session, one write at a time: a write that hangs and lands
   * late must not overwrite a newer token, so a newer one waits for it and follows it.
   * Resolves when the newest one was tried. Never rejects; a refusal is logged and leaves
   * `unsaved` for the next cycle.
   */
  private writeUnsaved(): Promise<void> {
    if (this.writing) return this.writing;
    const session = this.unsaved;
    if (!session) return Promise.resolve();
    const write = this.deps.sessions.save(this.deps.profile, session).then(
      () => {
        if (this.unsaved === session) this.unsaved = undefined;
      },
      (error: unknown) => {
        const code = isBrokerError(error) ? error.code : 'BRK_ERR_INTERNAL';
        this.deps.logger.warn({ profile: this.name, code }, 'the session (a rotated refresh token, a new IdentityId) could not be written to the keychain; it is kept in memory and written again at the next refresh');
      },
    );
    this.writing = write.then(() => {
      this.writing = undefined;
      // A newer token came while this write hung: it goes next, now that the keychain answers.
      if (this.unsaved !== undefined && this.unsaved !== session) return this.writeUnsaved();
      return undefined;
    });
    return this.writing;
  }

  /**
   * GetId once, then GetCredentialsForIdentity. Cognito's advice, followed once each: an
   * unknown IdentityId means GetId again; a refused ID token means refresh it first. Still
   * refused with a fresh token and a kept IdentityId ("Logins don't match": the IdentityId
   * is another login's): GetId says which is this login's.
   */
  private async exchange(session: StoredSession, tokens: UserPoolTokens | undefined, keptId: string | undefined) {
    let idTokens = tokens ?? (await this.refreshTokens(session));
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
          idTokens = await this.refreshTokens(session);
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
   * skips GetId. In the background, through the same one-at-a-time writes as a rotated
   * token: a keychain that refuses or hangs only costs a GetId at the next start.
   */
  private keepIdentity(identityId: string): void {
    const session = this.state.session;
    const { identityPoolId } = this.deps.profile;
    if (!session || !this.deps.sessions.writable || storedIdentityId(session, this.deps.profile) === identityId) return;
    const updated: StoredSession = { ...session, identity: { identityPoolId, identityId } };
    this.dispatch({ type: 'session-loaded', session: updated });
    this.unsaved = updated;
    void this.writeUnsaved();
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

  private fail(error: BrokerError, session: StoredSession | undefined, tokens: UserPoolTokens | undefined, identityId: string | undefined): void {
    if (error instanceof LoginRequiredError) {
      const refused = this.state.session ?? session;
      this.unsaved = undefined;
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

  /** One timer per profile, set after every cycle, for whatever is due next. */
  private schedule(): void {
    this.clearTimer();
    if (this.stopped) return;
    const at = this.nextWakeAt();
    // STORE_POLL_MS: a running session also watches the keychain (see watchStore).
    const delay = Math.min(TIMER_MAX_MS, STORE_POLL_MS, Math.max(0, at - this.deps.clock.now()));
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
   * A running session follows the keychain: `logout` deleted the entry (stop serving what
   * came from it), a new `login` replaced it (use the new one; another user's credentials
   * are dropped at once). One local keychain read per STORE_POLL_MS. Skipped while a
   * refresh runs or a rotated token waits to be written: the keychain then lags behind
   * memory. A keychain that cannot be read, or does not answer within KEYCHAIN_TIMEOUT_MS,
   * changes nothing: the session runs from memory, its timers go on, and no second read is
   * sent while one hangs.
   */
  private async watchStore(): Promise<void> {
    const current = this.state.session;
    if (!current || this.inFlight || this.unsaved || this.watching) return;
    const read = this.deps.sessions.load(this.deps.profile).then(
      (found) => ({ found }),
      () => undefined,
    );
    this.watching = read.finally(() => (this.watching = undefined));
    const stored = await this.withinKeychainTimeout(read);
    if (stored === TIMED_OUT || !stored || this.inFlight || this.unsaved || this.state.session !== current) return;
    if (!stored.found) {
      this.dispatch({ type: 'signed-out', error: new NotSignedInError(this.name) });
      return;
    }
    if (sessionFingerprint(stored.found) === sessionFingerprint(current)) return;
    const sameUser = sessionUser(stored.found) === sessionUser(current);
    this.dispatch({ type: 'session-replaced', session: stored.found, sameUser });
    if (!sameUser) void this.refresh();
  }

  private clearTimer(): void {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
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
