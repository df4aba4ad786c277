import { type BrokerError, isBrokerError, LoginRequiredError } from '../errors.js';
import type { OAuthTokenClient } from './oauth-token-client.js';
import type { RefreshRequest, TokenRefresher } from './types.js';

/** What sign-out calls; UserPoolClient and OAuthTokenClient have these. */
export interface SignOutClients {
  readonly userPool: {
    revokeToken(refreshToken: string, clientSecret?: string): Promise<void>;
    globalSignOut(accessToken: string): Promise<void>;
  };
  readonly oauth?: Pick<OAuthTokenClient, 'revoke'> | undefined;
  /** For --global: a fresh access token first (GlobalSignOut takes an access token). */
  readonly refresher: TokenRefresher;
}

export type SignOutOutcome =
  /** The token no longer works: revoked now, or it was already refused. */
  | { readonly done: true; readonly what: string }
  /** Nothing was ended at the server: offline, refused, or no way to revoke. `what` says which. */
  | { readonly done: false; readonly what: string; readonly cause?: BrokerError | undefined };

/**
 * Ends the session at the server: RevokeToken for a password session, the provider's
 * revocation endpoint (Cognito's /oauth2/revoke, an OIDC provider's RFC 7009 endpoint) for a
 * browser or OIDC session. `global` ends every session of the user (GlobalSignOut, with an
 * access token fresh from the refresh token); if that fails this session's token is still
 * revoked (the rotated one, when that refresh rotated it). Never throws for an upstream
 * failure: the caller deletes the keychain entries either way and reports what did not happen.
 */
export async function revokeSession(request: RefreshRequest, clients: SignOutClients, options: { readonly global?: boolean } = {}): Promise<SignOutOutcome> {
  if (!options.global) return revokeOne(request, clients);
  let accessToken = '';
  // With refresh-token rotation the refresh hands back a new refresh token, and the one
  // we hold works only for the grace period (60 s at most): the new one is what stays
  // valid, for its whole lifetime, so it is the one to revoke if GlobalSignOut fails.
  let current = request;
  const refreshed = await attempt(async () => {
    const fresh = await clients.refresher.refresh(request);
    accessToken = fresh.accessToken;
    if (fresh.refreshToken !== undefined && fresh.refreshToken !== request.refreshToken) current = { ...request, refreshToken: fresh.refreshToken };
  });
  if (refreshed === 'already-invalid') {
    return { done: false, what: 'the global sign-out did not happen: the refresh token was already refused, so there is no access token to sign out with (this session is over; others of the user may not be)' };
  }
  const global = refreshed === 'done' ? await attempt(() => clients.userPool.globalSignOut(accessToken)) : refreshed;
  if (global === 'done') return { done: true, what: 'every session of the user was signed out (GlobalSignOut)' };
  const reason = global === 'already-invalid'
    ? 'the user pool refused the access token (a browser session needs the scope aws.cognito.signin.user.admin in hostedUi.scopes)'
    : describe(global);
  const single = await revokeOne(current, clients);
  const rest = single.done ? `only this session ended: ${single.what}` : `and ${single.what}`;
  return { done: false, what: `the global sign-out did not happen (${reason}); ${rest}`, cause: global === 'already-invalid' ? undefined : global };
}

async function revokeOne(request: RefreshRequest, clients: SignOutClients): Promise<SignOutOutcome> {
  const method = request.method ?? 'password';
  if (method !== 'password' && !clients.oauth) {
    return { done: false, what: 'the refresh token was NOT revoked: the profile no longer has the "hostedUi" or "oidc" section its session was signed in with' };
  }
  let revocable = true;
  const result = await attempt(async () => {
    if (method === 'password') await clients.userPool.revokeToken(request.refreshToken, request.clientSecret);
    else revocable = await (clients.oauth as Pick<OAuthTokenClient, 'revoke'>).revoke(request.refreshToken, request.clientSecret);
  });
  if (result === 'already-invalid') return { done: true, what: 'the refresh token was already invalid (revoked or expired)' };
  if (result !== 'done') return { done: false, what: `the refresh token was NOT revoked: ${describe(result)}`, cause: result };
  if (!revocable) {
    return { done: false, what: 'the refresh token was NOT revoked: the OpenID Connect provider offers no revocation endpoint (none in its discovery document, none in oidc.endpoints.revocation)' };
  }
  return { done: true, what: method === 'password' ? 'the refresh token was revoked (RevokeToken)' : 'the refresh token was revoked at the provider\'s revocation endpoint' };
}

/** `already-invalid`: the server refused the token as no longer valid, which is what sign-out wants. */
async function attempt(call: () => Promise<void>): Promise<'done' | 'already-invalid' | BrokerError> {
  try {
    await call();
    return 'done';
  } catch (error) {
    if (error instanceof LoginRequiredError) return 'already-invalid';
    if (isBrokerError(error)) return error;
    throw error;
  }
}

function describe(error: BrokerError): string {
  return `${error.message.replace(/[.\s]+$/, '')} [${error.code}]`;
}
