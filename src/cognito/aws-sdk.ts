import { createRequire } from 'node:module';
import type * as AwsSdk from './aws-sdk-subset.cjs';

const require = createRequire(import.meta.url);

/** The AWS SDK clients and the commands the broker sends (see aws-sdk-subset.cts). */
export function awsSdk(): typeof AwsSdk {
  // require(), not import: see src/require-commonjs.ts.
  return require('./aws-sdk-subset.cjs') as typeof AwsSdk;
}
