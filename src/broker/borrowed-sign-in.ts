import { readIdTokenClaims } from '../cognito/jwt-claims.js';
import type { RefreshedTokens, RefreshRequest, TokenRefresher, UserPoolTokens } from '../cognito/types.js';
import type { ProfileConfig } from '../config/config.js';
import { CredentialsPendingError, InternalError, LoginRequiredError, UpstreamUnavailableError } from '../errors.js';
import { SessionStore, type StoredSession } from '../store/session-store.js';
import type { SecretStore } from '../store/secret-store.js';
import type { Clock } from './clock.js';
import { ID_TOKEN_POLICY, isDue } from './freshness-policy.js';
import type { ProfileSession } from './profile-session.js';

/**
 * A profile with `signInFrom` is a ProfileSession like any other (its own state, backoff,
 * IdentityId and GetCredentialsForIdentity with its own role), given these two edges in
 * place of the keychain and the user pool:
 *
 * - BorrowedSessionStore reads the owner's keychain entry, so `login`, `logout` and a new
 *   user signing in are followed as the owner follows them; it never writes.
 * - BorrowedTokens takes the owner session's ID token instead of calling the user pool, so
 *   only the owner ever sends the refresh token. With refresh-token rotation, a second
 *   sender would race the owner for the one valid token and one of them would be refused.
 */
export class BorrowedSessionStore extends SessionStore {
  constructor(
    secrets: SecretStore,
    private readonly owner: ProfileConfig,
  ) {
    super(secrets);
  }

  override async load(_profile: ProfileConfig): Promise<StoredSession | undefined> {
    return super.load(this.owner);
  }

  override get writable(): boolean {
    return false;
  }

  /** Never called: BorrowedTokens returns no rotated refresh token, and writable is false. */
  override async save(profile: ProfileConfig): Promise<void> {
    throw new InternalError(`Profile "${profile.name}" uses the sign-in of "${this.owner.name}" and must not write it.`);
  }
}

export class BorrowedTokens implements TokenRefresher {
  constructor(
    private readonly borrower: string,
    private readonly owner: ProfileSession,
    private readonly clock: Clock,
  ) {}

  async refresh(request: RefreshRequest): Promise<RefreshedTokens> {
    const owner = this.owner;
    // Starting or refreshing: wait for it (not only REQUEST_WAIT_MS, as a request would).
    // Signed out or refused: look in the keychain for a new sign-in now (a refused token
    // is never sent again). Ready or in backoff: its own timer and backoff decide.
    if (owner.phase !== 'ready' && owner.phase !== 'degraded') await owner.refresh();
    if (owner.phase === 'signed-out' || owner.phase === 'login-required') {
      // Its session is gone or refused: so is ours (the same keychain entry); never serve on from it.
      throw new LoginRequiredError(owner.name, owner.phase === 'signed-out' ? 'it is signed out' : 'the user pool refused its refresh token');
    }
    let tokens = await owner.tokens();
    if (isDue(tokens, ID_TOKEN_POLICY, this.clock.now()) && owner.phase === 'ready') {
      // Our timer fired before the owner's: renew through the owner (one shared refresh).
      await owner.refresh();
      tokens = await owner.tokens();
    }
    if (!sameUser(tokens, request)) {
      // A new sign-in as another user, seen by us before the owner: wait for the owner.
      throw new CredentialsPendingError(this.borrower);
    }
    if (isDue(tokens, ID_TOKEN_POLICY, this.clock.now())) {
      // The owner could not renew it: back off as the owner does, never loop on a due token.
      const why = owner.status().lastError?.message ?? 'it has no fresh ID token yet';
      throw new UpstreamUnavailableError(`Profile "${this.borrower}" uses the sign-in of profile "${owner.name}", which could not renew its ID token: ${why}`);
    }
    return withoutRefreshToken(tokens);
  }
}

function sameUser(tokens: UserPoolTokens, request: RefreshRequest): boolean {
  if (request.cognitoUsername === undefined) return true;
  try {
    const user = readIdTokenClaims(tokens.idToken)['cognito:username'];
    return user === undefined || user === request.cognitoUsername;
  } catch {
    return true;
  }
}

function withoutRefreshToken(tokens: UserPoolTokens): RefreshedTokens {
  const { idToken, accessToken, expiresAt, issuedAt } = tokens;
  return { idToken, accessToken, expiresAt, issuedAt };
}
