/**
 * The build's last step (package.json's build, test and test:node, after tsc): bundles made
 * with esbuild beside tsc's output in dist/src.
 *
 * - Packages, each as one CommonJS file in place of tsc's output of the module of ours that
 *   re-exports it (PACKAGE_BUNDLES): Node's loaders resolve, read and compile a package's
 *   files one by one, which costs every command's start-up tens of milliseconds a package.
 *   Our modules require them through src/require-bundle.ts, which keeps V8's code cache of
 *   each on Node 20.
 *   - config/zod-subset.cjs: the parts of zod the config names, tree-shaken. zod 4 loads all
 *     of its locales from every entry point; the bundle has the English one the config's
 *     errors use (see src/config/zod-subset.cts).
 *   - cognito/aws-sdk-subset.cjs: the AWS SDK clients and commands it names, tree-shaken from
 *     their ES modules (see src/cognito/aws-sdk-subset.cts).
 *   - server/fastify-subset.cjs: fastify and what it requires on load (see there).
 *   - log/pino-subset.cjs: pino and its dependencies.
 * - bundle/main.cjs: src/cli/main.ts and all of our modules it imports, as one CommonJS file.
 *   What a command imports on use stays unrun until then (esbuild's lazy module init), and
 *   V8 compiles a function only when it first runs. The bin requires it (src/cli/run-main.ts)
 *   through src/require-bundle.ts, so that on Node 20 it runs from V8's code cache as the
 *   package bundles do: ~30 ms less of `serve`'s start-up than Node's ES module loader
 *   resolving, reading and compiling the ~30 files of an ES module bundle split at each dynamic
 *   import (which the cache cannot hold on Node 20). Code run by node:vm has no import(): the
 *   build fails if the bundle keeps one (noImportOnUse; src/cli/import-package.cts imports ES
 *   module packages for it). The package bundles above are copied beside it and stay outside
 *   it (each module requires one by a path relative to its own URL, which the bundle defines
 *   from its own __filename), as do packages from node_modules but jose (bundledPackages). The
 *   folder sits at the depth of src/'s own, and a module that finds files by its own URL
 *   walks up to the package root (src/cli/package-root.ts).
 * - cli/bin.cjs, the bin: src/cli/bin.ts and what it imports, as one CommonJS file (see
 *   there). Its one dynamic import, run-main.js, is bundled with it and requires the bundle
 *   above.
 *
 * Unit tests import tsc's output of each module; the tests that spawn the bin run the bundles, as
 * users do (npm ships only the bin and the bundles: package.json's files). The bin and the bundle
 * get source maps to our src/, so that coverage points there, and stack traces under
 * --enable-source-maps (requireBundle then leaves the bundle to Node's loader, which maps
 * them). The package bundles get none, and the coverage report leaves them out (`c8 ignore`):
 * they are the packages' code, and a map to their files would bring them into the report (tap
 * leaves out node_modules only by the path of the file that ran).
 * Plain JavaScript, not TypeScript: it runs where only tsc's output and node_modules exist.
 */
import { chmodSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist', 'src');
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  // package.json's engines: the oldest Node the bundles must run on.
  target: 'node20.17',
  sourcemap: 'linked',
  logLevel: 'warning',
};

/**
 * Our modules that are bundles of packages (above), by their source in src/; bundleOfPackages
 * writes each where tsc wrote the module (the .cjs beside in dist/src/), and the main bundle
 * gets a copy beside it.
 */
const PACKAGE_BUNDLES = ['config/zod-subset.cts', 'cognito/aws-sdk-subset.cts', 'server/fastify-subset.cts', 'log/pino-subset.cts'];
const compiledFile = (source) => join(dist, source.replace(/\.cts$/, '.cjs'));

/** tsc's output of modules the bundle requires by a path relative to its own, copied beside it. */
const BESIDE_THE_BUNDLE = ['cli/import-package.cjs'];

// Without zod's comments (minifyWhitespace): one of them holds a character beyond Latin-1,
// which would make V8 keep the whole source as two bytes a character in every daemon (~370 KB,
// not ~145).
await bundleOfPackages('config/zod-subset.cts');

await bundleOfPackages('cognito/aws-sdk-subset.cts', {
  // The packages' ES modules, which esbuild can tree-shake (their package.json says they have
  // no side effects); their CommonJS files are one per package.
  mainFields: ['module', 'main'],
  // import() as require(): @smithy/node-http-handler's ES build imports node:http on first use,
  // and from Node 22 on an import of node:http loads Node's undici for good (src/node-http.ts).
  supported: { 'dynamic-import': false },
  // The broker gives every client credentials of its own (see there): the default chain, which
  // would bring the SSO and sign-in clients and their own STS into the bundle, is never asked.
  alias: { '@aws-sdk/credential-provider-node': './scripts/no-default-credentials.mjs' },
});

await bundleOfPackages('server/fastify-subset.cts', {
  // What fastify requires only on use stays a require() of the package: its schema compilers
  // and their ajv (routes without schemas never compile one), inject's light-my-request, and
  // pino, which it loads only for a logger of its own (build-app gives it none).
  external: ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'light-my-request', 'pino'],
});

await bundleOfPackages('log/pino-subset.cts');

// Built from scratch: no file of an earlier build left beside.
const bundleDir = join(dist, 'bundle');
rmSync(bundleDir, { recursive: true, force: true });
const mainBundle = join(bundleDir, 'main.cjs');
const mainBuild = await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: mainBundle,
  format: 'cjs',
  packages: 'external',
  plugins: [bundledPackages(['jose'])],
  // Our modules find files (the bundles beside, the package root) by their own URL: the
  // bundle's, in CommonJS.
  // "use strict" first: esbuild's own comes after the banner, where it is no directive.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: '"use strict";\nconst importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  metafile: true,
});
noImportOnUse(mainBuild.metafile, mainBundle, 'the CLI bundle runs from V8\'s code cache on Node 20, compiled by node:vm, which runs no import(): import the package through src/cli/import-package.cts');
for (const source of PACKAGE_BUNDLES) copyFileSync(compiledFile(source), join(bundleDir, basename(compiledFile(source))));
for (const file of BESIDE_THE_BUNDLE) {
  for (const copy of [file, `${file}.map`]) copyFileSync(join(dist, copy), join(bundleDir, basename(copy)));
}

const bin = join(dist, 'cli', 'bin.cjs');
const UNREACHABLE = 'unreachable: not in the bin';
const binBuild = await build({
  ...common,
  entryPoints: ['src/cli/bin.ts'],
  outfile: bin,
  format: 'cjs',
  // Packages from node_modules as they are (the bin's own code uses none but Node's).
  packages: 'external',
  plugins: [onlyRunMainOnUse()],
  // A module that needs import.meta cannot be in a CommonJS bundle: fail the build.
  logOverride: { 'empty-import-meta': 'error' },
  metafile: true,
});
noImportOnUse(binBuild.metafile, bin, 'only run-main.js may be imported on use (its graph is bundled with the bin)');
chmodSync(bin, 0o755);
// main.js runs on its own too: the bin of earlier builds, which a service unit installed then
// still names. tsc's main.js, in place of which it now runs the bin.
const main = join(dist, 'cli', 'main.js');
writeFileSync(main, "#!/usr/bin/env node\n// The bin (scripts/bundle.mjs): the bin of earlier builds runs it too.\nimport './bin.cjs';\n");
chmodSync(main, 0o755);
rmSync(`${main}.map`, { force: true });

/**
 * The parts of packages that one of our modules re-exports, bundled in place of tsc's output of
 * that module: no source map (tsc's describes the re-export; see above for why not the
 * packages'), kept out of the coverage report, no whitespace.
 */
async function bundleOfPackages(source, options = {}) {
  const outfile = compiledFile(source);
  rmSync(`${outfile}.map`, { force: true });
  const built = await build({
    ...common,
    entryPoints: [`src/${source}`],
    outfile,
    format: 'cjs',
    sourcemap: false,
    minifyWhitespace: true,
    banner: { js: '/* c8 ignore start */' },
    footer: { js: '/* c8 ignore stop */' },
    metafile: true,
    ...options,
  });
  noImportOnUse(built.metafile, outfile, 'on Node 20 the bundles run from V8\'s code cache, compiled by node:vm, which runs no import()');
}

/**
 * Packages bundled into the main bundle after all (the others stay external): jose, an ES
 * module package whose one function the broker uses (decodeJwt) Node's loader would otherwise
 * resolve through its exports map and read as five files.
 */
function bundledPackages(names) {
  const filter = new RegExp(`^(${names.join('|')})(/|$)`);
  return {
    name: 'bundled-packages',
    setup(b) {
      // As Node would resolve it (the package's exports), from the repository's root.
      b.onResolve({ filter }, (args) => ({ path: fileURLToPath(import.meta.resolve(args.path)) }));
    },
  };
}

/**
 * The bin's one dynamic import, run-main.js, bundled with the bin (its code runs only on use).
 * Modules the bin takes a few functions from have dynamic imports of their own: those are left
 * out of the bin with the functions that hold them (the build checks: noImportOnUse), marked
 * here as unreachable.
 */
function onlyRunMainOnUse() {
  return {
    name: 'only-run-main-on-use',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\//, namespace: 'file' }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        if (resolve(args.resolveDir, args.path) === join(root, 'src', 'cli', 'run-main.js')) return undefined;
        return { path: UNREACHABLE, external: true };
      });
    },
  };
}

/** Fails the build if `file`'s bundle kept an import() (of a package, or one marked unreachable). */
function noImportOnUse(metafile, file, why) {
  const output = metafile.outputs[relative(root, file)];
  const kept = output.imports.filter((i) => i.kind === 'dynamic-import');
  if (kept.length > 0) throw new Error(`${relative(root, file)} imports ${kept.map((i) => i.path).join(', ')} on use: ${why}`);
}
