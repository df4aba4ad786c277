// pino as the broker loads it, as one CommonJS module. The build (scripts/bundle.mjs) replaces
// this file's compiled output with pino and its dependencies bundled into one file: every
// command that logs loads it before its first request (~20 ms for pino's ~30 files on a
// 2-core machine, ~10 for the one). Without pino.transport(), whose worker file is not beside
// the bundle: the broker logs to a stream of its own (create-logger.ts). Unbundled (a plain
// `tsc`), this is a re-export of the package and works the same.
import pino = require('pino');
export = pino;
