/**
 * Stands in for @aws-sdk/credential-provider-node in the Cognito SDK bundle (scripts/bundle.mjs).
 * createSdkClients (src/cognito/create-cognito-clients.ts) gives every client credentials of its
 * own, as the operations the broker sends are unsigned, so the SDK never asks its default chain.
 * Should a client ever be made without them, it fails with this error rather than searching the
 * machine for AWS credentials.
 */
export function defaultProvider() {
  return async () => {
    throw new Error('the Cognito clients of cognito-broker are given credentials of their own: the default credential chain is not in the bundle');
  };
}
