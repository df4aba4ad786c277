import {
  LoginRequiredError,
  OAuthClientRefusedError,
  SignInFailedError,
  UpstreamMalformedError,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '../errors.js';
import { type IdTokenClaims, readIdTokenClaims } from './jwt-claims.js';
import { type HttpAnswer, type HttpFetch, isRecord, oauthError, postForm } from './oauth-http.js';
import type { OAuthEndpoints } from './oidc-discovery.js';
import type { RefreshedTokens, RefreshRequest, SignInTokens, TokenRefresher } from './types.js';

export interface OAuthTokenClientOptions {
  readonly profile: string;
  readonly clientId: string;
  /** "the managed login" or "the OpenID Connect provider": who is named in messages. */
  readonly provider: string;
  readonly endpoints: () => Promise<OAuthEndpoints>;
  /**
   * What the ID token's `iss` must be: the configured issuer for an OIDC provider; for the
   * managed login, one ending in the pool's id (a domain of another pool would otherwise
   * sign in to the wrong pool and only fail at the identity pool).
   */
  readonly issuer: { readonly matches: (iss: string) => boolean; readonly expected: string };
  readonly fetch?: HttpFetch;
  /** Our clock: when tokens arrive. */
  readonly now?: () => number;
}

/** What the redirect brought back, and what proves this client asked for it (PKCE). */
export interface CodeExchange {
  readonly code: string;
  readonly codeVerifier: string;
  readonly redirectUri: string;
  readonly clientSecret?: string | undefined;
}

/**
 * The OAuth 2.0 token and revocation endpoints (RFC 6749, RFC 7636, RFC 7009) of the
 * managed login or of another OpenID Connect provider: the code exchange at sign-in, the
 * `refresh_token` grant for browser and OIDC sessions, and revocation at sign-out.
 */
export class OAuthTokenClient implements TokenRefresher {
  private readonly now: () => number;

  constructor(private readonly options: OAuthTokenClientOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Where the browser is sent to sign in (read once, with discovery when needed). */
  async authorizationEndpoint(): Promise<string> {
    return (await this.options.endpoints()).authorization;
  }

  async exchangeCode(exchange: CodeExchange): Promise<SignInTokens> {
    const answer = await this.post('token', {
      grant_type: 'authorization_code',
      client_id: this.options.clientId,
      code: exchange.code,
      redirect_uri: exchange.redirectUri,
      code_verifier: exchange.codeVerifier,
    }, exchange.clientSecret);
    if (answer.status !== 200) throw this.refusal(answer, 'sign-in');
    const tokens = this.tokensFrom(answer.json);
    const refreshToken = isRecord(answer.json) ? answer.json.refresh_token : undefined;
    if (typeof refreshToken !== 'string' || refreshToken === '') {
      throw new UpstreamMalformedError(`${this.provider()} signed you in but returned no refresh token${this.options.provider.includes('OpenID') ? ' (most providers need the "offline_access" scope, Google access_type=offline)' : ''}.`);
    }
    return { ...tokens, refreshToken };
  }

  /** The refresh_token grant. A refresh_token in the answer is a rotation: it replaces the old one. */
  async refresh(request: RefreshRequest): Promise<RefreshedTokens> {
    const answer = await this.post('token', { grant_type: 'refresh_token', client_id: this.options.clientId, refresh_token: request.refreshToken }, request.clientSecret);
    if (answer.status !== 200) throw this.refusal(answer, 'refresh');
    const tokens = this.tokensFrom(answer.json);
    const rotated = isRecord(answer.json) ? answer.json.refresh_token : undefined;
    if (rotated !== undefined && (typeof rotated !== 'string' || rotated === '')) {
      throw new UpstreamMalformedError(`${this.provider()} answered the refresh with a refresh_token that is not a string.`);
    }
    return rotated === undefined || rotated === request.refreshToken ? tokens : { ...tokens, refreshToken: rotated };
  }

  /**
   * RFC 7009 revocation of a refresh token (and, at Cognito, the tokens issued from it).
   * Resolves false when the provider has no revocation endpoint.
   */
  async revoke(refreshToken: string, clientSecret?: string): Promise<boolean> {
    const endpoints = await this.options.endpoints();
    if (!endpoints.revocation) return false;
    const answer = await this.post('revocation', { token: refreshToken, token_type_hint: 'refresh_token', client_id: this.options.clientId }, clientSecret);
    if (answer.status !== 200) throw this.refusal(answer, 'revoke');
    return true;
  }

  private async post(endpoint: 'token' | 'revocation', form: Record<string, string>, clientSecret: string | undefined): Promise<HttpAnswer> {
    const endpoints = await this.options.endpoints();
    const url = endpoint === 'token' ? endpoints.token : (endpoints.revocation as string);
    const basicAuth = clientSecret ? { user: this.options.clientId, password: clientSecret } : undefined;
    return postForm(url, form, { what: `${this.options.provider}'s ${endpoint} endpoint`, fetch: this.options.fetch, basicAuth });
  }

  /** An answer other than 200, as one of our errors: what the broker and the CLI act on. */
  private refusal(answer: HttpAnswer, operation: 'sign-in' | 'refresh' | 'revoke'): Error {
    const { status } = answer;
    const error = oauthError(answer.json);
    const said = error ? `${error.error}${error.description}` : `HTTP ${status}`;
    if (status >= 500 || status === 429) return new UpstreamUnavailableError(`${this.provider()} did not answer the ${operation} (HTTP ${status}); try again later.`);
    if (operation === 'refresh' && error?.error === 'invalid_grant') {
      // Expired, revoked, signed out, or a rotated token reused: only a new sign-in helps.
      return new LoginRequiredError(this.options.profile, `${this.options.provider} refused the refresh token: ${said}`);
    }
    if (operation === 'revoke' && (error?.error === 'invalid_grant' || error?.error === 'invalid_token')) {
      // RFC 7009 answers 200 for a token already invalid; some providers say so instead.
      return new LoginRequiredError(this.options.profile, `${this.options.provider} says the refresh token is already invalid: ${said}`);
    }
    if (operation === 'sign-in' && (error?.error === 'invalid_grant' || error?.error === 'access_denied')) {
      return new SignInFailedError(`${this.provider()} refused the sign-in (${said}). Run the login again.`);
    }
    if (!error && status !== 400 && status !== 401) {
      return new UpstreamRejectedError(`${this.provider()} answered the ${operation} with HTTP ${status} and no OAuth error: check the configured domain or endpoints.`);
    }
    if (error?.error === 'invalid_client' || error?.error === 'unauthorized_client') {
      return new OAuthClientRefusedError(said, `${this.provider()} refused the ${operation} (${said}). Check the client id, the client secret (if the app client has one) and that the client allows the authorization code grant.`);
    }
    return new UpstreamRejectedError(`${this.provider()} refused the ${operation} (${said}). Check the profile's client id, scopes and endpoints.`);
  }

  private tokensFrom(json: unknown) {
    const idToken = isRecord(json) ? json.id_token : undefined;
    const accessToken = isRecord(json) ? json.access_token : undefined;
    if (typeof idToken !== 'string' || idToken === '' || typeof accessToken !== 'string' || accessToken === '') {
      // OpenID Connect Core 12.2 lets a refresh answer leave the ID token out; the identity pool needs one.
      throw new UpstreamMalformedError(`${this.provider()} answered without an id_token or access_token (the "openid" scope is needed; the identity pool takes only ID tokens).`);
    }
    const claims = readIdTokenClaims(idToken);
    this.checkClaims(claims);
    const receivedAt = this.now();
    return { idToken, accessToken, expiresAt: claims.exp * 1000, issuedAt: Math.min(receivedAt, claims.exp * 1000) };
  }

  /**
   * Not a signature check (the identity pool verifies the token): the two claims that,
   * wrong, would send the token to the identity pool under the wrong provider or client.
   */
  private checkClaims(claims: IdTokenClaims): void {
    if (!this.options.issuer.matches(claims.iss)) {
      throw new UpstreamRejectedError(`${this.provider()} issued an ID token from ${JSON.stringify(claims.iss.slice(0, 200))}, not ${this.options.issuer.expected}. Check the configured domain or issuer.`);
    }
    const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audience.includes(this.options.clientId)) {
      throw new UpstreamRejectedError(`${this.provider()} issued an ID token for another client (aud), not ${JSON.stringify(this.options.clientId)}. Check the profile's client id.`);
    }
  }

  private provider(): string {
    const name = this.options.provider;
    return name.charAt(0).toUpperCase() + name.slice(1);
  }
}
