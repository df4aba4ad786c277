import type { AwsCredentials, UserPoolTokens } from '../cognito/types.js';
import type { BrokerError } from '../errors.js';
import { type StoredSession, sessionUser } from '../store/session-store.js';

/**
 * The phases of one profile's session.
 *
 *   starting ──keychain read──▶ signed-out (nothing stored) ──session found──▶ refreshing
 *   starting ──session found──▶ refreshing ──ok──▶ ready ──due──▶ refreshing-ahead ──ok──▶ ready
 *                                     │                                   │
 *                                     └──────────failed (retryable)───────┴──▶ degraded ──retry──▶ refreshing(-ahead)
 *   any refresh ──refresh token refused──▶ login-required ──new session in the keychain──▶ refreshing
 *   any phase with a session ──entry deleted (logout)──▶ signed-out; ──another user signed in──▶ refreshing
 *
 * Beside the phase, `endsSoon`: the sign-in's known end (the profile's refreshTokenLifetime
 * from `login`) is near; set by `sign-in-ending`, cleared by a new sign-in.
 */
export type SessionPhase = 'starting' | 'signed-out' | 'refreshing' | 'ready' | 'refreshing-ahead' | 'degraded' | 'login-required';

export interface SessionState {
  readonly phase: SessionPhase;
  /** Held in memory once read, so a keychain that locks later does not stop a running session. */
  readonly session?: StoredSession | undefined;
  /**
   * The user the tokens, credentials and IdentityId below belong to. Kept when a refused
   * session is forgotten (login-required), so a sign-in by another user drops them.
   */
  readonly user?: string | undefined;
  readonly tokens?: UserPoolTokens | undefined;
  readonly credentials?: AwsCredentials | undefined;
  /** GetId once per user: cached for the life of the session. */
  readonly identityId?: string | undefined;
  readonly lastError?: BrokerError | undefined;
  /** Failures in a row; drives the backoff. */
  readonly failures: number;
  /** degraded: when the next retry is due (epoch ms). */
  readonly retryAt?: number | undefined;
  readonly lastRefreshAt?: number | undefined;
  /** login-required: which refresh token was refused, so only a new sign-in restarts refreshing. */
  readonly rejectedFingerprint?: string | undefined;
  /** The held sign-in ends soon (see SessionNotice); only a new sign-in clears it. */
  readonly endsSoon?: boolean | undefined;
}

export type SessionEvent =
  | { readonly type: 'refresh-started' }
  | { readonly type: 'session-loaded'; readonly session: StoredSession }
  /** A new sign-in replaced the session in the keychain while it ran. */
  | { readonly type: 'session-replaced'; readonly session: StoredSession; readonly sameUser: boolean }
  | {
      readonly type: 'refresh-succeeded';
      readonly at: number;
      readonly tokens: UserPoolTokens;
      readonly credentials: AwsCredentials;
      readonly identityId: string;
    }
  | {
      readonly type: 'refresh-failed';
      readonly error: BrokerError;
      readonly retryAt: number;
      /** What the failed cycle did get (new ID token, IdentityId) is kept. */
      readonly tokens?: UserPoolTokens | undefined;
      readonly identityId?: string | undefined;
    }
  | { readonly type: 'login-required'; readonly error: BrokerError; readonly rejectedFingerprint?: string | undefined }
  /** The clock passed the moment the held sign-in starts to end soon. */
  | { readonly type: 'sign-in-ending' }
  | { readonly type: 'signed-out'; readonly error: BrokerError };

export const INITIAL_STATE: SessionState = { phase: 'starting', failures: 0 };

/** The one place phases change. Pure: the driver (ProfileSession) does the I/O and the timers. */
export function nextSessionState(state: SessionState, event: SessionEvent): SessionState {
  switch (event.type) {
    case 'refresh-started':
      return { ...state, phase: state.credentials ? 'refreshing-ahead' : 'refreshing' };
    case 'session-loaded': {
      const user = sessionUser(event.session);
      const endsSoon = state.endsSoon === true && state.session?.signedInAt === event.session.signedInAt;
      // After login-required: a sign-in by another user; nothing of the first one is served on.
      if (state.user !== undefined && state.user !== user) return { ...state, session: event.session, user, tokens: undefined, credentials: undefined, identityId: undefined, endsSoon };
      return { ...state, session: event.session, user, endsSoon };
    }
    case 'session-replaced':
      // Another user's tokens and credentials must not be served a moment longer.
      if (event.sameUser) return { ...state, session: event.session, endsSoon: state.endsSoon === true && state.session?.signedInAt === event.session.signedInAt };
      return {
        ...state,
        phase: 'refreshing',
        session: event.session,
        user: sessionUser(event.session),
        tokens: undefined,
        credentials: undefined,
        identityId: undefined,
        failures: 0,
        retryAt: undefined,
        lastError: undefined,
        endsSoon: false,
      };
    case 'sign-in-ending':
      return state.session ? { ...state, endsSoon: true } : state;
    case 'refresh-succeeded':
      return {
        ...state,
        phase: 'ready',
        tokens: event.tokens,
        credentials: event.credentials,
        identityId: event.identityId,
        lastError: undefined,
        failures: 0,
        retryAt: undefined,
        lastRefreshAt: event.at,
        rejectedFingerprint: undefined,
      };
    case 'refresh-failed':
      return {
        ...state,
        phase: 'degraded',
        tokens: event.tokens ?? state.tokens,
        identityId: event.identityId ?? state.identityId,
        lastError: event.error,
        failures: state.failures + 1,
        retryAt: event.retryAt,
      };
    case 'login-required':
      // The refused refresh token is forgotten; what was issued from it stays valid until it
      // expires (Cognito does not revoke issued credentials), so it is still served.
      return {
        ...state,
        phase: 'login-required',
        session: undefined,
        endsSoon: false,
        lastError: event.error,
        failures: 0,
        retryAt: undefined,
        rejectedFingerprint: event.rejectedFingerprint,
      };
    case 'signed-out':
      // Nothing in the keychain: the user signed out, so nothing from that session is served.
      return {
        ...state,
        phase: 'signed-out',
        session: undefined,
        endsSoon: false,
        user: undefined,
        tokens: undefined,
        credentials: undefined,
        identityId: undefined,
        lastError: event.error,
        failures: 0,
        retryAt: undefined,
      };
  }
}
