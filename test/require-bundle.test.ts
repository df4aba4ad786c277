import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { requireBundle } from '../src/require-bundle.js';
import { compiledPath } from './support/paths.js';

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-require-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A CommonJS file that reports what it was given, as a bundle of ours would use it. */
function writeBundle(dir: string, answer: string): string {
  const file = join(dir, 'lib', 'bundle.cjs');
  mkdirSync(join(dir, 'lib'), { recursive: true });
  writeFileSync(join(dir, 'lib', 'beside.cjs'), "module.exports = 'beside';\n");
  writeFileSync(file, `'use strict';
const beside = require('./beside.cjs');
module.exports = { answer: () => '${answer}', beside, filename: __filename, dirname: __dirname, thisIsExports: this === exports, cached: () => require.cache[__filename] === module };
`);
  return file;
}

interface Run {
  readonly answer: string;
  readonly beside: string;
  readonly filename: string;
  readonly thisIsExports: boolean;
  readonly cached: boolean;
  readonly again: boolean;
  readonly use: { readonly used: number; readonly compiled: number };
  readonly written: string[];
}

/** One process: the code cache enabled in `cacheDir`, the bundle required twice, the cache saved. */
function run(t: Test, bundle: string, cacheDir: string, flags = 'command', nodeArgs: readonly string[] = []): Run {
  const module = pathToFileURL(compiledPath('src/require-bundle.ts')).href;
  const code = `
    import { bundleCodeCacheUse, enableBundleCodeCache, requireBundle, saveBundleCodeCache } from ${JSON.stringify(module)};
    enableBundleCodeCache(${JSON.stringify(cacheDir)}, ${JSON.stringify(flags)});
    const from = ${JSON.stringify(pathToFileURL(join(bundle, '..', 'x.js')).href)};
    const first = requireBundle(from, './bundle.cjs');
    const again = requireBundle(from, './bundle.cjs') === first;
    const use = bundleCodeCacheUse();
    console.log(JSON.stringify({ ...first, answer: first.answer(), cached: first.cached(), again, use, written: saveBundleCodeCache() }));`;
  const child = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', code], { encoding: 'utf8' });
  t.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Run;
}

t.test('without a code cache, it is require(): the same module object, from the path relative to the caller', async (t) => {
  const dir = scratch(t);
  const file = writeBundle(dir, 'plain');
  const from = pathToFileURL(join(dir, 'lib', 'caller.js')).href;
  const loaded = requireBundle<{ answer(): string }>(from, './bundle.cjs');
  t.equal(loaded.answer(), 'plain');
  t.equal(loaded, createRequire(file)(file), "the module in Node's cache");
});

t.test('with a code cache: compiled and saved (0600) on the first start, taken from the cache on the next, the module as require() gives it', async (t) => {
  const dir = scratch(t);
  const bundle = writeBundle(dir, 'one');
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  const first = run(t, bundle, cache);
  t.same(first.use, { used: 0, compiled: 1 }, 'nothing cached yet: compiled');
  t.equal(first.written.length, 1, 'the cache written');
  t.equal(statSync(first.written[0] as string).mode & 0o777, 0o600, 'readable by the user alone');
  const second = run(t, bundle, cache);
  t.same(second.use, { used: 1, compiled: 0 }, 'taken from the cache');
  t.same(second.written, [], 'nothing to write');
  for (const r of [first, second]) {
    t.match(r, { answer: 'one', beside: 'beside', filename: bundle, thisIsExports: true, cached: true, again: true }, "a CommonJS module as Node's loader runs it: its own require, __filename, this, the module cache");
  }
});

t.test('a bundle that changed is compiled anew, even at the same length (V8 checks only the length), and its old cache goes', async (t) => {
  const dir = scratch(t);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  const bundle = writeBundle(dir, 'one');
  run(t, bundle, cache);
  writeBundle(dir, 'two');
  const changed = run(t, bundle, cache);
  t.equal(changed.answer, 'two', "the new code runs, not the cache's");
  t.same(changed.use, { used: 0, compiled: 1 });
  t.same(readdirSync(cache), [basename(changed.written[0] as string)], 'one cache left, the new one');
});

// V8 rejects code cached under other flags: serve's (its label) and node's own options each
// keep a cache of their own, rather than replace one another's at every start.
t.test("each set of V8 flags keeps its own cache: serve's and a command's, and node's own options", async (t) => {
  const dir = scratch(t);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  const bundle = writeBundle(dir, 'one');
  run(t, bundle, cache, 'command');
  t.same(run(t, bundle, cache, 'serve').use, { used: 0, compiled: 1 }, "serve's flags: not the command's cache");
  t.same(run(t, bundle, cache, 'command', ['--max-semi-space-size=2']).use, { used: 0, compiled: 1 }, "a node option: not the plain command's");
  t.same(run(t, bundle, cache, 'command', ['--max-semi-space-size=2']).use, { used: 1, compiled: 0 }, 'its own, the next time');
  t.same(run(t, bundle, cache, 'serve').use, { used: 1, compiled: 0 }, "serve's is still there");
  t.equal(readdirSync(cache).length, 2, "the option's cache replaced the plain command's (the same file, other options)");
});

t.test('a damaged cache is rejected by V8 and written anew; the bundle runs as ever', async (t) => {
  const dir = scratch(t);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  const bundle = writeBundle(dir, 'one');
  const file = run(t, bundle, cache).written[0] as string;
  writeFileSync(file, Buffer.alloc(4096, 7));
  const damaged = run(t, bundle, cache);
  t.equal(damaged.answer, 'one');
  t.same(damaged.use, { used: 0, compiled: 1 }, 'compiled, not taken from the damaged file');
  t.same(damaged.written, [file], 'written anew');
  t.same(run(t, bundle, cache).use, { used: 1, compiled: 0 });
});

t.test('a cache that cannot be written costs nothing but the next start compiling', async (t) => {
  const dir = scratch(t);
  const bundle = writeBundle(dir, 'one');
  const missing = join(dir, 'no-such-dir');
  const result = run(t, bundle, missing);
  t.equal(result.answer, 'one');
  t.same(result.written, [], 'nothing written, nothing thrown');
});

t.test('a bundle that throws while it loads is not left half-loaded: the next require throws again', async (t) => {
  const dir = scratch(t);
  const cache = join(dir, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  writeFileSync(join(dir, 'throws.cjs'), "module.exports.half = true;\nthrow new Error('cannot load');\n");
  const module = pathToFileURL(compiledPath('src/require-bundle.ts')).href;
  const code = `
    import { enableBundleCodeCache, requireBundle } from ${JSON.stringify(module)};
    enableBundleCodeCache(${JSON.stringify(cache)}, 'command');
    const from = ${JSON.stringify(pathToFileURL(join(dir, 'x.js')).href)};
    const errors = [];
    for (let i = 0; i < 2; i += 1) { try { requireBundle(from, './throws.cjs'); } catch (error) { errors.push(error.message); } }
    console.log(JSON.stringify(errors));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  t.equal(child.status, 0, child.stderr);
  t.same(JSON.parse(child.stdout), ['cannot load', 'cannot load']);
});

t.test("another copy of a bundle (another install) keeps a cache of its own, and neither removes the other's", async (t) => {
  const cache = join(scratch(t), 'cache');
  mkdirSync(cache, { mode: 0o700 });
  const one = writeBundle(scratch(t), 'one');
  const other = writeBundle(scratch(t), 'other');
  run(t, one, cache);
  run(t, other, cache);
  t.same(run(t, one, cache).use, { used: 1, compiled: 0 }, "the first copy's cache is still there");
  t.same(run(t, other, cache).use, { used: 1, compiled: 0 }, "and the other's");
  t.equal(readdirSync(cache).length, 2);
});
