import { createHash } from 'node:crypto';
import type { ProfileConfig, SignInMethod } from '../config/config.js';
import { KeychainEntryCorruptError, StoredSessionInvalidError } from '../errors.js';
import type { SecretStore } from './secret-store.js';

/** What sign-in leaves in the keychain for one profile. The refresh token is the secret. */
export interface StoredSession {
  readonly v: 1;
  /** Absent: 'password' (records written before other sign-in methods existed). */
  readonly method?: SignInMethod | undefined;
  readonly refreshToken: string;
  /** As typed at sign-in, for `status` and the next `login` prompt. */
  readonly username: string;
  /** The pool's own name for the user (`cognito:username`); an alias may differ from it. */
  readonly cognitoUsername?: string | undefined;
  readonly userPoolId: string;
  readonly clientId: string;
  /** The app client's secret, when it has one (SECRET_HASH); asked once at login. */
  readonly clientSecret?: string | undefined;
  /** The remembered device this session was signed in on (DEVICE_KEY on refresh). */
  readonly deviceKey?: string | undefined;
  /** Epoch milliseconds. */
  readonly signedInAt: number;
  /**
   * The user's IdentityId in the profile's identity pool, learned by the first GetId. It
   * never changes for a user, so it is kept with the session: a restart skips GetId (one
   * Cognito round trip of the first start-up's three). Not a secret.
   */
  readonly identity?: StoredIdentity | undefined;
  /**
   * The ID and access tokens the last refresh by a command without a daemon (credential-process,
   * token, exec) returned. Such commands run side by side, each in its own process: under the
   * refresh lock the next one takes these up instead of spending the refresh token again. The
   * daemon neither writes nor reads them (commands ask the daemon instead). Secrets, like the
   * refresh token beside them; gone with the entry at `logout`, absent after a `login`.
   */
  readonly tokens?: StoredTokens | undefined;
}

/** Epoch milliseconds; `issuedAt` by the clock of the process that refreshed. */
export interface StoredTokens {
  readonly idToken: string;
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly issuedAt: number;
}

export interface StoredIdentity {
  readonly identityPoolId: string;
  readonly identityId: string;
}

/**
 * A device the user pool remembers (device tracking): with it, the next sign-in answers
 * DEVICE_SRP_AUTH instead of asking for an MFA code. Kept apart from the session so a new
 * `login` (which replaces the session) keeps it.
 */
export interface RememberedDevice {
  readonly v: 1;
  readonly userPoolId: string;
  /** As typed at the sign-in that remembered it: the device is used only for the same user. */
  readonly username: string;
  /** The pool's own name for the user (USER_ID_FOR_SRP, `cognito:username`). */
  readonly cognitoUsername: string;
  readonly deviceKey: string;
  readonly deviceGroupKey: string;
  /** The random password whose SRP verifier the pool keeps (ConfirmDevice); a secret. */
  readonly devicePassword: string;
}

/**
 * The keychain entries of one profile, each a JSON record:
 * - `profile:NAME`: the session (StoredSession), replaced by every `login`;
 * - `device:NAME`: the remembered device (RememberedDevice), kept across logins;
 * - `client-secret:NAME`: the app client's secret, when it has one, kept across logins
 *   so `login` asks for it once.
 */
export class SessionStore {
  constructor(private readonly secrets: SecretStore) {}

  /** False for a store that reads another profile's entry and must not write it. */
  get writable(): boolean {
    return true;
  }

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

  /**
   * Removes every entry of the profile: the session, the remembered device and the client
   * secret. Resolves true when anything was deleted.
   */
  async delete(profile: ProfileConfig): Promise<boolean> {
    let deleted = false;
    // One after the other: a keychain that locks half-way leaves the session gone first.
    for (const account of [accountFor(profile), deviceAccountFor(profile), clientSecretAccountFor(profile)]) {
      if (await this.secrets.delete(account)) deleted = true;
    }
    return deleted;
  }

  /** The remembered device for this profile's pool, or undefined (none, another pool, or not ours). */
  async loadDevice(profile: ProfileConfig): Promise<RememberedDevice | undefined> {
    const text = await this.secrets.get(deviceAccountFor(profile)).catch(ignoreCorrupt);
    const device = text === undefined ? undefined : parseDevice(text);
    return device?.userPoolId === profile.userPoolId ? device : undefined;
  }

  async saveDevice(profile: ProfileConfig, device: RememberedDevice): Promise<void> {
    await this.secrets.set(deviceAccountFor(profile), JSON.stringify(device));
  }

  async deleteDevice(profile: ProfileConfig): Promise<boolean> {
    return this.secrets.delete(deviceAccountFor(profile));
  }

  /** The app client's secret kept by an earlier login, when it was for the same client id. */
  async loadClientSecret(profile: ProfileConfig): Promise<string | undefined> {
    const text = await this.secrets.get(clientSecretAccountFor(profile)).catch(ignoreCorrupt);
    if (text === undefined) return undefined;
    try {
      const value = JSON.parse(text) as { v?: unknown; clientId?: unknown; secret?: unknown };
      const ok = value.v === 1 && value.clientId === profile.clientId && typeof value.secret === 'string' && value.secret !== '';
      return ok ? (value.secret as string) : undefined;
    } catch {
      return undefined;
    }
  }

  async saveClientSecret(profile: ProfileConfig, secret: string): Promise<void> {
    await this.secrets.set(clientSecretAccountFor(profile), JSON.stringify({ v: 1, clientId: profile.clientId, secret }));
  }
}

/** An unreadable device or secret entry is as good as none: login asks again and rewrites it. */
function ignoreCorrupt(error: unknown): undefined {
  if (error instanceof KeychainEntryCorruptError) return undefined;
  throw error;
}

/**
 * Lets the broker tell "the user signed in again" from "the same rejected token" without
 * keeping a rejected token around.
 */
export function sessionFingerprint(session: StoredSession): string {
  return createHash('sha256').update(session.refreshToken).digest('hex');
}

/**
 * The same sign-in: a rotation keeps everything of the session but the refresh token, so a
 * session rotated by another process is this one's; a new `login` has a new `signedInAt`.
 */
export function sameSignIn(a: StoredSession, b: StoredSession): boolean {
  return sessionUser(a) === sessionUser(b) && a.signedInAt === b.signedInAt && (a.method ?? 'password') === (b.method ?? 'password');
}

/** Who the session is for: the pool's own name when known, else the name typed at sign-in. */
export function sessionUser(session: StoredSession): string {
  return session.cognitoUsername ?? session.username;
}

/** The IdentityId kept with the session, when it is for this profile's identity pool. */
export function storedIdentityId(session: StoredSession, profile: ProfileConfig): string | undefined {
  return session.identity?.identityPoolId === profile.identityPoolId ? session.identity.identityId : undefined;
}

function accountFor(profile: ProfileConfig): string {
  return `profile:${profile.name}`;
}

function deviceAccountFor(profile: ProfileConfig): string {
  return `device:${profile.name}`;
}

function clientSecretAccountFor(profile: ProfileConfig): string {
  return `client-secret:${profile.name}`;
}

function parseDevice(text: string): RememberedDevice | undefined {
  try {
    const value = JSON.parse(text) as Partial<Record<keyof RememberedDevice, unknown>>;
    const strings = [value.userPoolId, value.username, value.cognitoUsername, value.deviceKey, value.deviceGroupKey, value.devicePassword];
    return value.v === 1 && strings.every((s) => typeof s === 'string' && s !== '') ? (value as RememberedDevice) : undefined;
  } catch {
    return undefined;
  }
}

function isIdentity(value: unknown): value is StoredIdentity {
  const v = value as Partial<Record<keyof StoredIdentity, unknown>> | undefined;
  return typeof v?.identityPoolId === 'string' && typeof v.identityId === 'string' && v.identityPoolId !== '' && v.identityId !== '';
}

function isTokens(value: unknown): value is StoredTokens {
  const v = value as Partial<Record<keyof StoredTokens, unknown>> | undefined;
  return typeof v?.idToken === 'string' && v.idToken !== '' && typeof v.accessToken === 'string' && v.accessToken !== ''
    && Number.isFinite(v.expiresAt) && Number.isFinite(v.issuedAt);
}

function parse(text: string): StoredSession | undefined {
  try {
    const value = JSON.parse(text) as Partial<StoredSession>;
    const ok = value.v === 1 && typeof value.refreshToken === 'string' && value.refreshToken.length > 0
      && typeof value.userPoolId === 'string' && typeof value.clientId === 'string' && typeof value.username === 'string';
    if (!ok) return undefined;
    // A malformed IdentityId is as good as none: GetId finds it again; malformed tokens, a refresh.
    const { identity, tokens, ...session } = value as StoredSession;
    return { ...session, ...(isIdentity(identity) ? { identity } : {}), ...(isTokens(tokens) ? { tokens } : {}) };
  } catch {
    return undefined;
  }
}
