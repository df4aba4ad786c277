import { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { ProfileConfig } from '../config/config.js';
import { IdentityPoolClient } from './identity-pool-client.js';
import { UserPoolClient } from './user-pool-client.js';

/** A hung Cognito must not hold a refresh forever; the broker's backoff handles the retry. */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 3_000;
export const UPSTREAM_REQUEST_TIMEOUT_MS = 5_000;
/** One SDK retry for a dropped connection; longer outages are the broker's backoff's job. */
const UPSTREAM_MAX_ATTEMPTS = 2;

export interface CognitoClients {
  readonly userPool: UserPoolClient;
  readonly identityPool: IdentityPoolClient;
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
    requestHandler: { connectionTimeout: UPSTREAM_CONNECT_TIMEOUT_MS, requestTimeout: UPSTREAM_REQUEST_TIMEOUT_MS },
    credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
  };
  const idp = new CognitoIdentityProviderClient({ ...common, ...endpoint(profile.endpoints?.cognitoIdp) });
  const identity = new CognitoIdentityClient({ ...common, ...endpoint(profile.endpoints?.cognitoIdentity) });
  return {
    userPool: new UserPoolClient(idp, profile.clientId, profile.name),
    identityPool: new IdentityPoolClient(identity, { identityPoolId: profile.identityPoolId, profile: profile.name, now }),
    destroy() {
      idp.destroy();
      identity.destroy();
    },
  };
}

function endpoint(url: string | undefined): { endpoint?: string } {
  return url ? { endpoint: url } : {};
}
