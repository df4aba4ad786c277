import type { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { STSClient } from '@aws-sdk/client-sts';
import { BasicFlowExchanger } from './basic-flow.js';
import { DEVELOPER_PROVIDER, type ProfileConfig } from '../config/config.js';
import { DeveloperIdentity, DeveloperIdentityPool, type IdentityCommand } from './developer-identity.js';
import { IdentityPoolClient } from './identity-pool-client.js';
import type { HttpFetch } from './oauth-http.js';
import { OAuthTokenClient } from './oauth-token-client.js';
import { createEndpointResolver, oidcLoginsKey } from './oidc-discovery.js';
import { SessionRefresher } from './session-refresher.js';
import { awsSdk } from './aws-sdk.js';
import type { SignOutClients } from './sign-out.js';
import type { CredentialExchanger, TokenRefresher } from './types.js';
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
  /** GetId and GetCredentialsForIdentity (a developerIdentity profile: GetCredentialsForIdentity alone). */
  readonly identityPool: CredentialExchanger;
  /** The managed login's or the OIDC provider's token endpoint; absent when the profile has neither. */
  readonly oauth?: OAuthTokenClient | undefined;
  /** What the broker refreshes with: each session the way it was signed in (see SessionRefresher). */
  readonly refresher: TokenRefresher;
  /** What revokeSession needs: the same clients. */
  readonly signOut: SignOutClients;
  destroy(): void;
}

export interface CognitoClientsOptions {
  /** A developerIdentity profile's command, run for every token (required for such a profile). */
  readonly identityCommand?: IdentityCommand | undefined;
  /** Told as each request (each attempt) to Cognito or the token endpoint is about to be sent. */
  readonly onRequest?: (() => void) | undefined;
}

/** The AWS SDK clients of a profile; `sts` only for the basic flow. */
export interface SdkClients {
  readonly idp: CognitoIdentityProviderClient;
  readonly identity: CognitoIdentityClient;
  readonly sts?: STSClient | undefined;
}

/**
 * The SDK clients, each for the profile's region: the SDK resolves its endpoints by
 * partition (cn-north-1 and cn-northwest-1: amazonaws.com.cn), unless `endpoints` names one.
 */
export function createSdkClients(profile: ProfileConfig, onRequest?: () => void): SdkClients {
  const common = {
    region: profile.region,
    maxAttempts: UPSTREAM_MAX_ATTEMPTS,
    retryStrategy: connectionRetryStrategy,
    // Without throwOnRequestTimeout, @smithy/node-http-handler 4.x only logs a warning when
    // requestTimeout passes and the request hangs on (seen here against a proxy that never answers).
    requestHandler: { connectionTimeout: UPSTREAM_CONNECT_TIMEOUT_MS, requestTimeout: UPSTREAM_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
  };
  const sdk = awsSdk();
  const clients = {
    idp: new sdk.CognitoIdentityProviderClient({ ...common, ...endpoint(profile.endpoints?.cognitoIdp) }),
    identity: new sdk.CognitoIdentityClient({ ...common, ...endpoint(profile.endpoints?.cognitoIdentity) }),
    sts: profile.flow === 'basic' ? new sdk.STSClient({ ...common, ...endpoint(profile.endpoints?.sts) }) : undefined,
  };
  if (onRequest) {
    clients.idp.middlewareStack.add(told(onRequest), TOLD_AT);
    clients.identity.middlewareStack.add(told(onRequest), TOLD_AT);
    clients.sts?.middlewareStack.add(told(onRequest), TOLD_AT);
  }
  return clients;
}

/**
 * The last step before the HTTP handler, inside the retry loop (once per attempt): after the
 * SDK has read what it reads first (~/.aws/config, once a process), so that the request is
 * handed to Node's HTTP client right after.
 */
const TOLD_AT = { step: 'finalizeRequest', priority: 'low', name: 'cognitoBrokerOnRequest' } as const;

function told(onRequest: () => void) {
  return <Args, Output>(next: (args: Args) => Promise<Output>) => (args: Args): Promise<Output> => {
    onRequest();
    return next(args);
  };
}

/**
 * The default wiring: real AWS SDK clients for one profile. Both APIs we call are unsigned
 * (no AWS credentials needed), so the SDK gets an empty, never-used credential provider
 * instead of searching the machine for credentials.
 */
export function createCognitoClients(profile: ProfileConfig, now: () => number = Date.now, options: CognitoClientsOptions = {}): CognitoClients {
  const { idp, identity, sts } = createSdkClients(profile, options.onRequest);
  const userPool = new UserPoolClient(idp, profile.clientId, profile.name, now);
  const oauth = createOAuthClient(profile, now, options.onRequest && toldFetch(options.onRequest));
  const pool = new IdentityPoolClient(identity, {
    identityPoolId: profile.identityPoolId,
    profile: profile.name,
    now,
    // An OIDC provider's token goes under the provider's IAM name; a developer identity's under
    // cognito-identity.amazonaws.com; a user pool's under its iss.
    ...(profile.oidc ? { loginsKey: oidcLoginsKey(profile.oidc) } : {}),
    ...(profile.developerIdentity ? { loginsKey: DEVELOPER_PROVIDER } : {}),
  });
  const developer = developerIdentity(profile, now, options.identityCommand);
  const refresher = developer ?? new SessionRefresher({ profile: profile.name, userPool: profile.oidc ? undefined : userPool, oauth });
  const enhanced: CredentialExchanger = developer ? new DeveloperIdentityPool(developer, pool) : pool;
  const basic = sts && profile.customRoleArn
    ? new BasicFlowExchanger(enhanced, pool, sts, { profile: profile.name, roleArn: profile.customRoleArn, roleSessionName: profile.roleSessionName, durationSeconds: profile.sessionDurationSeconds, now })
    : undefined;
  return {
    userPool,
    identityPool: basic ?? enhanced,
    oauth,
    refresher,
    signOut: { userPool, oauth, refresher },
    destroy() {
      idp.destroy();
      identity.destroy();
      sts?.destroy();
    },
  };
}

function developerIdentity(profile: ProfileConfig, now: () => number, command: IdentityCommand | undefined): DeveloperIdentity | undefined {
  if (!profile.developerIdentity) return undefined;
  if (!command) throw new Error(`profile "${profile.name}": a developerIdentity profile needs its command runner`);
  return new DeveloperIdentity(profile.name, profile.developerIdentity, command, now);
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

/** fetch, telling onRequest first. */
function toldFetch(onRequest: () => void): HttpFetch {
  return (input, init) => {
    onRequest();
    return fetch(input, init);
  };
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
