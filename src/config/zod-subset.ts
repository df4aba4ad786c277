// The parts of zod the config schema uses, as one module. The build (scripts/bundle.mjs)
// replaces this file's compiled output with those parts bundled from zod and nothing else:
// every entry point of zod 4 loads all of its 60-odd locales, about 100 ms of a `serve` or
// `login` start on a 2-core machine, where the bundle takes about 20. Unbundled (a plain
// `tsc`), it is a re-export of zod and works the same, only slower to load.
export { array, boolean, enum, looseObject, NEVER, number, record, strictObject, string, unknown } from 'zod';
export type { RefinementCtx } from 'zod';
