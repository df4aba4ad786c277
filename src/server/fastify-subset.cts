// fastify as the daemon loads it, as one CommonJS module. The build (scripts/bundle.mjs)
// replaces this file's compiled output with fastify and the packages it requires on load
// bundled into one file; what it requires only on use (its schema compilers, the inject
// helper, pino for a logger of its own) stays outside and comes from node_modules if ever
// asked. Node's CommonJS loader resolved, read and compiled fastify's ~130 files one by one:
// ~70 ms of every `serve`'s start on a 2-core machine, against ~35 for the one file, and the
// first GetCredentialsForIdentity waits for it (src/app/create-daemon.ts). Unbundled (a plain
// `tsc`), this is a re-export of the package and works the same.
import fastify = require('fastify');
export = fastify;
