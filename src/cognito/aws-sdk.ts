import { createRequire } from 'node:module';
import type * as Sts from '@aws-sdk/client-sts';
import { requireCommonJs } from '../require-commonjs.js';
import type * as CognitoSdk from './cognito-sdk-subset.cjs';

const require = createRequire(import.meta.url);

/** The user-pool (cognito-idp) and identity-pool (cognito-identity) clients and the commands we send. */
export function cognitoSdk(): typeof CognitoSdk {
  // require(), not import: see requireCommonJs.
  return require('./cognito-sdk-subset.cjs') as typeof CognitoSdk;
}

/**
 * The STS package, loaded the first time a basic-flow profile needs it: only those profiles
 * call STS, and the package (with the default credential chain it brings) costs every other
 * process about 5 MB of memory and 40 modules.
 */
export function stsSdk(): typeof Sts {
  return requireCommonJs<typeof Sts>('@aws-sdk/client-sts');
}
