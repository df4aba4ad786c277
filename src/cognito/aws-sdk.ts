import type * as AwsSdk from './aws-sdk-subset.cjs';
import { requireBundle } from '../require-bundle.js';

/** The AWS SDK clients and the commands the broker sends (see aws-sdk-subset.cts). */
export function awsSdk(): typeof AwsSdk {
  return requireBundle<typeof AwsSdk>(import.meta.url, './aws-sdk-subset.cjs');
}
