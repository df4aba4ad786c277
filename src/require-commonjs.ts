import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS package, loaded with require() rather than import: the keyring addon,
 * pino-pretty and qrcode (and our bundles, through src/require-bundle.ts). Node 20
 * reads a CommonJS file that an ES module imports three times (it compiles it to tell its
 * format, lexes it for its export names, then compiles it to run); require() compiles it once.
 * The two Cognito clients, each one file of a few hundred kilobytes, loaded in half the time
 * (about 110 ms less for every `serve` and `login` on a 2-core machine), the keyring addon
 * loads in 6 ms instead of 15-20. The module object is the
 * one an import would give (Node's CommonJS cache), so types and instanceof are unchanged.
 * `T` is the package's type, `typeof` a namespace imported with `import type * as`.
 */
export function requireCommonJs<T>(name: string): T {
  return require(name) as T;
}
