import { createHash } from 'node:crypto';
import type { ProfileConfig } from '../config/config.js';
import { KeychainEntryCorruptError, StoredSessionInvalidError } from '../errors.js';
import type { SecretStore } from './secret-store.js';

/** What sign-in leaves in the keychain for one profile. The refresh token is the secret. */
export interface StoredSession {
  readonly v: 1;
  readonly refreshToken: string;
  /** As typed at sign-in, for `status` and the next `login` prompt. */
  readonly username: string;
  /** The pool's own name for the user (`cognito:username`); an alias may differ from it. */
  readonly cognitoUsername?: string | undefined;
  readonly userPoolId: string;
  readonly clientId: string;
  /** Epoch milliseconds. */
  readonly signedInAt: number;
}

/** One keychain entry per profile, holding a JSON StoredSession. */
export class SessionStore {
  constructor(private readonly secrets: SecretStore) {}

  /** undefined: never signed in (or signed out). Throws KeychainUnavailableError when the keychain is locked. */
  async load(profile: ProfileConfig): Promise<StoredSession | undefined> {
    const text = await this.secrets.get(accountFor(profile)).catch((error: unknown) => {
      throw error instanceof KeychainEntryCorruptError ? new StoredSessionInvalidError(profile.name, error.detail) : error;
    });
    if (text === undefined) return undefined;
    const session = parse(text);
    if (!session) throw new StoredSessionInvalidError(profile.name, 'it is not a session cognito-broker wrote');
    if (session.userPoolId !== profile.userPoolId || session.clientId !== profile.clientId) {
      throw new StoredSessionInvalidError(profile.name, 'it was signed in to another user pool or app client than the config names');
    }
    return session;
  }

  async save(profile: ProfileConfig, session: StoredSession): Promise<void> {
    await this.secrets.set(accountFor(profile), JSON.stringify(session));
  }

  async delete(profile: ProfileConfig): Promise<boolean> {
    return this.secrets.delete(accountFor(profile));
  }
}

/**
 * Lets the broker tell "the user signed in again" from "the same rejected token" without
 * keeping a rejected token around.
 */
export function sessionFingerprint(session: StoredSession): string {
  return createHash('sha256').update(session.refreshToken).digest('hex');
}

function accountFor(profile: ProfileConfig): string {
  return `profile:${profile.name}`;
}

function parse(text: string): StoredSession | undefined {
  try {
    const value = JSON.parse(text) as Partial<StoredSession>;
    const ok = value.v === 1 && typeof value.refreshToken === 'string' && value.refreshToken.length > 0
      && typeof value.userPoolId === 'string' && typeof value.clientId === 'string' && typeof value.username === 'string';
    return ok ? (value as StoredSession) : undefined;
  } catch {
    return undefined;
  }
}
