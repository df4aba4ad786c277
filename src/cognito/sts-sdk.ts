import { createRequire } from 'node:module';
import type * as Sts from '@aws-sdk/client-sts';

const require = createRequire(import.meta.url);

/**
 * The STS package, loaded the first time a basic-flow profile needs it: only those profiles
 * call STS, and the package (with the default credential chain it brings) costs every other
 * process about 5 MB of memory and 40 modules. Synchronous (the SDK is CommonJS; an import
 * would load the same module), so clients are still built synchronously.
 */
export function stsSdk(): typeof Sts {
  return require('@aws-sdk/client-sts') as typeof Sts;
}
