import { LoginRequiredError } from '../errors.js';
import type { RefreshedTokens, RefreshRequest, TokenRefresher } from './types.js';

const MISMATCH = {
  password: 'the session in the keychain was signed in with a password, and the profile has no user pool to refresh it',
  browser: 'the session in the keychain was signed in through the managed login, and the profile has no "hostedUi" section to refresh it',
  oidc: 'the session in the keychain was signed in through an OpenID Connect provider, and the profile has no "oidc" section to refresh it',
  developer: 'the session in the keychain was signed in through a "developerIdentity" command, and the profile has none',
} as const;

export interface SessionRefresherDeps {
  readonly profile: string;
  /** The user-pool API (REFRESH_TOKEN_AUTH, GetTokensFromRefreshToken): password sessions. */
  readonly userPool?: TokenRefresher | undefined;
  /** The managed login's or the OIDC provider's /token endpoint: browser and OIDC sessions. */
  readonly oauth?: TokenRefresher | undefined;
}

/**
 * Refreshes a stored session the way it was signed in: a session from the managed login or
 * an OIDC provider through that provider's token endpoint, a password session through the
 * user-pool API. A session the profile can no longer refresh (its config lost the hostedUi
 * or oidc section, or an OIDC profile holds a password session) needs a new sign-in.
 */
export class SessionRefresher implements TokenRefresher {
  constructor(private readonly deps: SessionRefresherDeps) {}

  async refresh(request: RefreshRequest): Promise<RefreshedTokens> {
    const method = request.method ?? 'password';
    const refresher = method === 'password' ? this.deps.userPool : this.deps.oauth;
    if (!refresher) throw new LoginRequiredError(this.deps.profile, MISMATCH[method]);
    return refresher.refresh(request);
  }
}
