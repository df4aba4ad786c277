// An ES module package, imported on use (the browser opener, the prompts), from a
// file of its own that Node's own loader compiles. The CLI's bundle runs on Node 20 from V8's
// code cache (src/require-bundle.ts), compiled by node:vm, where an import() would need an
// experimental option (and print a warning) or a flag; Node's loaders run it here as ever.
// The build checks that the bundle has no import() of its own.
export function importPackage<T>(name: string): Promise<T> {
  return import(name) as Promise<T>;
}
