// The parts of zod the config schema uses, as one CommonJS module. The build
// (scripts/bundle.mjs) replaces this file's compiled output with those parts bundled from zod
// and nothing else: every entry point of zod 4 loads all of its 60-odd locales, about 100 ms
// of a `serve` or `login` start on a 2-core machine, where the bundle takes about 20.
// CommonJS, required through src/require-bundle.ts, for the code cache it keeps on Node 20.
// Unbundled (a plain `tsc`), it is a re-export of zod and works the same, only slower to load.
import { config } from 'zod';

export { array, boolean, config, enum, looseObject, NEVER, number, record, strictObject, string, unknown } from 'zod';
export type { RefinementCtx } from 'zod';

// A process parses its config once. zod's JIT compiles a parser for each object schema on
// its first parse, which costs more than it saves then: jitless, a config parses in ~6 ms
// instead of ~10. Before any schema exists: zod decides at a schema's creation (config is
// exported for the test that turns the JIT back on to show the difference).
config({ jitless: true });
