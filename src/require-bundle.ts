import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import nodeModule, { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * One of our bundles (the CLI's, main.cjs, and those of packages: zod's parts, the AWS SDK's,
 * fastify's, pino's; scripts/bundle.mjs), required by a path relative to `from` (a module's
 * import.meta.url, or a file's path), as require() would. Where the CLI has enabled a code
 * cache (enableBundleCodeCache, on Node 20: Node 22.1 and later keep their own compile cache,
 * src/cli/compile-cache.ts), V8 takes the bundle's compiled code from there and skips most of
 * the compiling, half of loading a bundle of a few hundred kilobytes: the SDK's loads in
 * ~20 ms, not ~40, on a 2-core machine.
 */
export function requireBundle<T>(from: string, path: string): T {
  const require = createRequire(from);
  const filename = require.resolve(path);
  const cache = processCache();
  // With --enable-source-maps, Node's loader: it maps the stack traces of what it compiles,
  // not of what node:vm does.
  if (cache === undefined || require.cache[filename] !== undefined || process.sourceMapsEnabled) return require(filename) as T;
  return cache.load(filename) as T;
}

// The process's, not this module's: the bin and the CLI's bundle each hold a copy of this
// module (the bin enables the cache before it requires the bundle, whose modules use it).
const CACHE = Symbol.for('cognito-broker.bundle-code-cache');

function processCache(): BundleCodeCache | undefined {
  return (globalThis as { [CACHE]?: BundleCodeCache })[CACHE];
}

/**
 * Keeps V8's code cache of each bundle requireBundle loads in `dir`, which must be the user's
 * own (the caller checks: code read from there runs). `flags` names the V8 flags this process
 * runs with (serve sets some of its own, src/cli/daemon-heap.ts): V8 rejects code cached under
 * other flags, so each set keeps its own.
 */
export function enableBundleCodeCache(dir: string, flags: string): void {
  (globalThis as { [CACHE]?: BundleCodeCache })[CACHE] = new BundleCodeCache(dir, flags);
}

/**
 * Writes the code cache of each bundle loaded since the last call whose cache was missing or
 * rejected, with the code V8 compiled for it so far (functions compile on their first call,
 * so the later, the more a next start skips). Under the V8 flags the process started with:
 * serve calls it before it turns the optimizing compiler back on. Never throws: without a
 * cache a start is only slower. Returns the files written.
 */
export function saveBundleCodeCache(): string[] {
  return processCache()?.save() ?? [];
}

/** What the code cache did for the bundles loaded so far (`serve --log-level debug` logs it). */
export function bundleCodeCacheUse(): { readonly used: number; readonly compiled: number } {
  const cache = processCache();
  return { used: cache?.used ?? 0, compiled: cache?.compiled ?? 0 };
}

interface Loaded {
  readonly script: Script;
  readonly file: string;
  readonly prefix: string;
}

class BundleCodeCache {
  used = 0;
  compiled = 0;
  private readonly unsaved: Loaded[] = [];

  constructor(
    private readonly dir: string,
    private readonly flags: string,
  ) {}

  load(filename: string): unknown {
    const bytes = readFileSync(filename);
    // By content: V8 checks only the source's length, and npm gives every file it installs
    // the same time stamp. And by Node, V8 flags and node options, which V8 checks too.
    const options = `${process.execArgv.join(' ')}\0${process.env.NODE_OPTIONS ?? ''}`;
    const key = createHash('sha256').update(bytes).update(`\0${process.version}\0${process.arch}\0${this.flags}\0${options}`).digest('hex').slice(0, 32);
    // Per file: another install's copy of a bundle keeps its own cache (an older version of
    // this one's is what save() removes).
    const where = createHash('sha256').update(filename).digest('hex').slice(0, 8);
    const prefix = `${basename(filename)}.${where}.${this.flags}.`;
    const file = join(this.dir, `${prefix}${key}.v8`);
    const cachedData = readIfThere(file);
    // Without import(): node:vm runs one only with an experimental option, which warns when
    // used; the build checks that no bundle has one (src/cli/import-package.cts).
    const script = new Script(nodeModule.wrap(bytes.toString('utf8')), { filename, cachedData });
    if (cachedData !== undefined && script.cachedDataRejected !== true) this.used += 1;
    else {
      this.compiled += 1;
      this.unsaved.push({ script, file, prefix });
    }
    return run(script, filename);
  }

  save(): string[] {
    const written: string[] = [];
    for (const { script, file, prefix } of this.unsaved.splice(0)) {
      // Written whole, then renamed: a start that reads it meanwhile finds the old or the new.
      // (Not by pid alone: containers that share a home directory reuse pids.)
      const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
        renameSync(temporary, file);
        written.push(file);
        // This file's older caches (an earlier version of it, other node options) go, and
        // what a writer that stopped half-way left.
        for (const name of readdirSync(this.dir)) {
          if (name.startsWith(prefix) && /\.(v8|tmp)$/.test(name) && name !== basename(file)) rmSync(join(this.dir, name), { force: true });
        }
      } catch {
        // No cache: the next start compiles, as without one.
        rmSync(temporary, { force: true });
      }
    }
    return written;
  }
}

function readIfThere(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Runs a wrapped CommonJS file as Node's loader does, into the same module cache. */
function run(script: Script, filename: string): unknown {
  const module = new nodeModule(filename);
  module.filename = filename;
  const require = createRequire(filename);
  require.cache[filename] = module;
  try {
    const body = script.runInThisContext() as (...args: unknown[]) => void;
    body.call(module.exports, module.exports, require, module, filename, dirname(filename));
  } catch (error) {
    // As require(): a file that threw is not left half-loaded in the cache.
    Reflect.deleteProperty(require.cache, filename);
    throw error;
  }
  module.loaded = true;
  return module.exports;
}
