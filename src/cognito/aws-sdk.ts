import type * as CognitoIdentity from '@aws-sdk/client-cognito-identity';
import type * as CognitoIdentityProvider from '@aws-sdk/client-cognito-identity-provider';
import type * as Sts from '@aws-sdk/client-sts';
import { requireCommonJs } from '../require-commonjs.js';

/** The user-pool API (cognito-idp). */
export function cognitoIdentityProviderSdk(): typeof CognitoIdentityProvider {
  return requireCommonJs<typeof CognitoIdentityProvider>('@aws-sdk/client-cognito-identity-provider');
}

/** The identity-pool API (cognito-identity). */
export function cognitoIdentitySdk(): typeof CognitoIdentity {
  return requireCommonJs<typeof CognitoIdentity>('@aws-sdk/client-cognito-identity');
}

/**
 * The STS package, loaded the first time a basic-flow profile needs it: only those profiles
 * call STS, and the package (with the default credential chain it brings) costs every other
 * process about 5 MB of memory and 40 modules.
 */
export function stsSdk(): typeof Sts {
  return requireCommonJs<typeof Sts>('@aws-sdk/client-sts');
}
