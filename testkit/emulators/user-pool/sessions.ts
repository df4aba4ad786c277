/**
 * The Session of a sign-in between its challenges: which challenge it expects, what the
 * sign-in has behind it, how many wrong codes it took, whether it was used or expired.
 */
import { randomBytes } from 'node:crypto';
import { INCORRECT_CREDENTIALS, missingParameter, UserPoolFault } from './api-protocol.js';
import type { ClientState, MfaChallenge } from './directory.js';
import type { SrpExchange } from './srp-server.js';

export type ChallengeName =
  | 'PASSWORD_VERIFIER'
  | 'NEW_PASSWORD_REQUIRED'
  | MfaChallenge
  | 'SELECT_MFA_TYPE'
  | 'MFA_SETUP'
  | 'DEVICE_SRP_AUTH'
  | 'DEVICE_PASSWORD_VERIFIER';

/** Which steps of one sign-in are behind it. */
export interface FlowProgress {
  newPassword: boolean;
  mfa: boolean;
  device: boolean;
}

export interface AuthSession {
  readonly id: string;
  readonly clientId: string;
  /** Undefined for an unknown user's decoy SRP challenge (the proof can never verify). */
  readonly username: string | undefined;
  readonly challenge: ChallengeName;
  readonly expiresAt: number;
  readonly authTime: number;
  readonly done: FlowProgress;
  deviceKey: string | undefined;
  attempts: number;
  used: boolean;
  dead: boolean;
  srp?: { exchange: SrpExchange; secretBlock: string; srpA: string };
  code?: string;
  mfaChoices?: MfaChallenge[];
  totpVerified?: boolean;
}

const SESSION_BYTES = 192;

export class AuthSessions {
  private readonly sessions = new Map<string, AuthSession>();
  /** PASSWORD_VERIFIER answers come without a Session: their SECRET_BLOCK names the exchange. */
  private readonly secretBlocks = new Map<string, AuthSession>();

  constructor(
    private readonly now: () => number,
    private readonly sessionMs: number,
    private readonly maxCodeAttempts: number,
  ) {}

  create(
    clientId: string,
    username: string | undefined,
    challenge: ChallengeName,
    authTime: number,
    done: FlowProgress,
    deviceKey: string | undefined,
  ): AuthSession {
    this.dropExpired();
    const session: AuthSession = {
      id: randomBytes(SESSION_BYTES).toString('base64url'),
      clientId,
      username,
      challenge,
      expiresAt: this.now() + this.sessionMs,
      authTime,
      done: { ...done },
      deviceKey,
      attempts: 0,
      used: false,
      dead: false,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  take(id: string | undefined, client: ClientState): AuthSession {
    if (!id) throw missingParameter('Session');
    const session = this.sessions.get(id);
    if (!session || session.clientId !== client.clientId) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    return session;
  }

  bySecretBlock(secretBlock: string | undefined): AuthSession {
    if (!secretBlock) throw missingParameter('PASSWORD_CLAIM_SECRET_BLOCK');
    const session = this.secretBlocks.get(secretBlock);
    if (!session) throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    return session;
  }

  checkUsable(session: AuthSession, client: ClientState): void {
    if (session.clientId !== client.clientId || session.dead) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    if (session.used) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user, session can only be used once.');
    if (this.now() >= session.expiresAt) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user, session is expired.');
  }

  /** A wrong code leaves the session usable for a few more tries, as real Cognito. */
  countWrongCode(session: AuthSession): void {
    session.attempts += 1;
    if (session.attempts >= this.maxCodeAttempts) session.dead = true;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) {
      // Keep spent sessions a while so a reuse is answered "used once", not "invalid".
      if (now >= session.expiresAt + this.sessionMs) {
        this.sessions.delete(id);
        if (session.srp) this.secretBlocks.delete(session.srp.secretBlock);
      }
    }
  }

  /** A fresh Session id for the same challenge (each call hands out a new one). */
  continueWith(session: AuthSession, extra: Partial<AuthSession>): AuthSession {
    const next = this.create(session.clientId, session.username, session.challenge, session.authTime, session.done, session.deviceKey);
    Object.assign(next, extra, { attempts: session.attempts });
    return next;
  }

  get(id: string): AuthSession | undefined {
    return this.sessions.get(id);
  }

  /** Makes the session findable by the SECRET_BLOCK of its SRP exchange. */
  indexBySecretBlock(session: AuthSession, secretBlock: string): void {
    this.secretBlocks.set(secretBlock, session);
  }
}
