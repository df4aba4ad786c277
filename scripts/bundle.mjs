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
 * - bundle/: src/cli/main.ts and the ES modules it imports, as one ES module bundle split at
 *   each dynamic import (what a command loads on use stays loaded on use): ~40 ms less of every
 *   command's start-up than Node's loader resolving and reading ~150 files one by one. The
 *   package bundles above are copied beside it and stay outside it (each module requires one
 *   by a path relative to its own, which names the copy), as do packages from node_modules
 *   but jose (bundledPackages). The folder sits at the depth of src/'s own, and
 *   a module that finds files by its own URL walks up to the package root (src/cli/package-root.ts).
 * - cli/bin.cjs, the bin: src/cli/bin.ts and what it imports, as one CommonJS file (see
 *   there). Its one dynamic import, main.js, is the bundle's above.
 *
 * Unit tests import tsc's output of each module; the tests that spawn the bin run the bundle, as
 * users do (npm ships only the bin and the bundle: package.json's files). The bin and the bundle
 * get source maps to our src/, so that coverage and stack traces point there. The package
 * bundles get none, and the coverage report leaves them out (`c8 ignore`): they are the
 * packages' code, and a map to their files would bring them into the report (tap leaves out
 * node_modules only by the path of the file that ran).
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

// Built from scratch: chunk names carry hashes, and old chunks would pile up.
const bundleDir = join(dist, 'bundle');
rmSync(bundleDir, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outdir: bundleDir,
  format: 'esm',
  splitting: true,
  packages: 'external',
  plugins: [bundledPackages(['jose'])],
});
for (const source of PACKAGE_BUNDLES) copyFileSync(compiledFile(source), join(bundleDir, basename(compiledFile(source))));

const bin = join(dist, 'cli', 'bin.cjs');
const UNREACHABLE = 'unreachable: not in the bin';
const binBuild = await build({
  ...common,
  entryPoints: ['src/cli/bin.ts'],
  outfile: bin,
  format: 'cjs',
  // Packages from node_modules as they are (the bin's own code uses none but Node's).
  packages: 'external',
  plugins: [mainOfTheBundle()],
  // A module that needs import.meta cannot be in a CommonJS bundle: fail the build.
  logOverride: { 'empty-import-meta': 'error' },
  metafile: true,
});
onlyMainImportedOnUse(binBuild.metafile);
chmodSync(bin, 0o755);
// main.js runs on its own too: the bin of earlier builds, which a service unit installed then
// still names. tsc's main.js, in place of which it now runs the bundle's.
const main = join(dist, 'cli', 'main.js');
writeFileSync(main, "#!/usr/bin/env node\n// The bin's bundle (scripts/bundle.mjs): the bin of earlier builds runs it too.\nimport '../bundle/main.js';\n");
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
  await build({
    ...common,
    entryPoints: [`src/${source}`],
    outfile,
    format: 'cjs',
    sourcemap: false,
    minifyWhitespace: true,
    banner: { js: '/* c8 ignore start */' },
    footer: { js: '/* c8 ignore stop */' },
    ...options,
  });
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
 * The bin's dynamic import of main.js, as an import of the bundle's main.js. The bin's code
 * has no other, but modules it takes a few functions from do: those are left out of the bin
 * with the functions that hold them (the build checks, below), marked here as unreachable.
 */
function mainOfTheBundle() {
  return {
    name: 'main-of-the-bundle',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\//, namespace: 'file' }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const main = resolve(args.resolveDir, args.path) === join(root, 'src', 'cli', 'main.js');
        return { path: main ? relative(dirname(bin), join(bundleDir, 'main.js')) : UNREACHABLE, external: true };
      });
    },
  };
}

/** Fails the build if the bin kept any dynamic import but main.js's (see mainOfTheBundle). */
function onlyMainImportedOnUse(metafile) {
  const output = metafile.outputs[relative(root, bin)];
  const others = output.imports.filter((i) => i.kind === 'dynamic-import' && !i.path.endsWith('/bundle/main.js'));
  if (others.length > 0) throw new Error(`bin.cjs imports ${others.map((i) => i.path).join(', ')} on use: only main.js may be (import it from main.js's graph)`);
}
