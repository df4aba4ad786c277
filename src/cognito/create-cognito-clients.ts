import { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { ProfileConfig } from '../config/config.js';
import { IdentityPoolClient } from './identity-pool-client.js';
import type { HttpFetch } from './oauth-http.js';
import { OAuthTokenClient } from './oauth-token-client.js';
import { createEndpointResolver, oidcLoginsKey } from './oidc-discovery.js';
import { SessionRefresher } from './session-refresher.js';
import type { SignOutClients } from './sign-out.js';
import type { TokenRefresher } from './types.js';
import { UserPoolClient } from './user-pool-client.js';

/** A hung Cognito must not hold a refresh forever; the broker's backoff handles the retry. */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 3_000;
export const UPSTREAM_REQUEST_TIMEOUT_MS = 5_000;
/** One SDK retry for a dropped connection; longer outages are the broker's backoff's job. */
export const UPSTREAM_MAX_ATTEMPTS = 2;
/** Before that one retry: enough for a restarted peer or a fresh socket, short next to the 750 ms a request waits. */
export const UPSTREAM_RETRY_DELAY_MS = 100;

export interface CognitoClients {
  /** The user-pool API: password sign-in, its refresh, RevokeToken, GlobalSignOut. */
  readonly userPool: UserPoolClient;
  readonly identityPool: IdentityPoolClient;
  /** The managed login's or the OIDC provider's token endpoint; absent when the profile has neither. */
  readonly oauth?: OAuthTokenClient | undefined;
  /** What the broker refreshes with: each session the way it was signed in (see SessionRefresher). */
  readonly refresher: TokenRefresher;
  /** What revokeSession needs: the same clients. */
  readonly signOut: SignOutClients;
  destroy(): void;
}

/**
 * The default wiring: real AWS SDK clients for one profile. Both APIs we call are unsigned
 * (no AWS credentials needed), so the SDK gets an empty, never-used credential provider
 * instead of searching the machine for credentials.
 */
export function createCognitoClients(profile: ProfileConfig, now: () => number = Date.now): CognitoClients {
  const common = {
    region: profile.region,
    maxAttempts: UPSTREAM_MAX_ATTEMPTS,
    retryStrategy: connectionRetryStrategy,
    // Without throwOnRequestTimeout, @smithy/node-http-handler 4.x only logs a warning when
    // requestTimeout passes and the request hangs on (seen here against a proxy that never answers).
    requestHandler: { connectionTimeout: UPSTREAM_CONNECT_TIMEOUT_MS, requestTimeout: UPSTREAM_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
  };
  const idp = new CognitoIdentityProviderClient({ ...common, ...endpoint(profile.endpoints?.cognitoIdp) });
  const identity = new CognitoIdentityClient({ ...common, ...endpoint(profile.endpoints?.cognitoIdentity) });
  const userPool = new UserPoolClient(idp, profile.clientId, profile.name, now);
  const oauth = createOAuthClient(profile, now);
  const refresher = new SessionRefresher({ profile: profile.name, userPool: profile.oidc ? undefined : userPool, oauth });
  return {
    userPool,
    identityPool: new IdentityPoolClient(identity, {
      identityPoolId: profile.identityPoolId,
      profile: profile.name,
      now,
      // An OIDC provider's token goes under the provider's IAM name; a user pool's under its iss.
      ...(profile.oidc ? { loginsKey: oidcLoginsKey(profile.oidc) } : {}),
    }),
    oauth,
    refresher,
    signOut: { userPool, oauth, refresher },
    destroy() {
      idp.destroy();
      identity.destroy();
    },
  };
}

/**
 * The OAuth 2.0 client of a profile with a "hostedUi" or "oidc" section (undefined without
 * either): browser sign-in, the refresh of its sessions, their revocation.
 */
export function createOAuthClient(profile: ProfileConfig, now: () => number = Date.now, fetchImpl?: HttpFetch): OAuthTokenClient | undefined {
  if (!profile.oidc && !profile.hostedUi) return undefined;
  const endpoints = createEndpointResolver(profile, fetchImpl);
  const common = { profile: profile.name, endpoints, now, ...(fetchImpl ? { fetch: fetchImpl } : {}) };
  if (profile.oidc) {
    const issuer = profile.oidc.issuer;
    return new OAuthTokenClient({ ...common, clientId: profile.oidc.clientId, provider: 'the OpenID Connect provider', issuer: { matches: (iss) => iss === issuer, expected: JSON.stringify(issuer) } });
  }
  // Cognito's iss is https://cognito-idp.<region>.amazonaws.com/<poolId> (a local emulator: its own URL and the pool id).
  const suffix = `/${profile.userPoolId}`;
  return new OAuthTokenClient({ ...common, clientId: profile.clientId, provider: 'the managed login', issuer: { matches: (iss) => iss.endsWith(suffix), expected: `the user pool ${profile.userPoolId}` } });
}

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

const retryToken = (count: number, delayMs: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => delayMs });

/**
 * The SDK's standard strategy also retries throttling and 5xx answers, each with its own
 * delays: in a throttling storm every broker attempt would become two calls, on a second
 * clock. Here the SDK retries only what never got an answer (a reset keep-alive socket, a
 * timeout), once; every answered failure goes straight to the broker's one backoff.
 */
export const connectionRetryStrategy = {
  async acquireInitialRetryToken(): Promise<RetryToken> {
    return retryToken(0, 0);
  },
  async refreshRetryTokenForRetry(token: RetryToken, info: { errorType: string; error?: { $metadata?: { httpStatusCode?: number } } }): Promise<RetryToken> {
    const answered = info.error?.$metadata?.httpStatusCode !== undefined;
    const next = token.getRetryCount() + 1;
    // Throwing is how a strategy says "no retry": the SDK then rethrows the original error.
    if (info.errorType !== 'TRANSIENT' || answered || next >= UPSTREAM_MAX_ATTEMPTS) throw new Error('not retried by the SDK');
    return retryToken(next, UPSTREAM_RETRY_DELAY_MS);
  },
  recordSuccess(): void {},
};

function endpoint(url: string | undefined): { endpoint?: string } {
  return url ? { endpoint: url } : {};
}
