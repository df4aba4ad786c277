/**
 * The build's last step (package.json's build, test and test:node, after tsc), three bundles
 * made with esbuild beside tsc's output in dist/src:
 *
 * - config/zod-subset.js: tsc's re-export of zod replaced with the parts of zod it names,
 *   tree-shaken. zod 4 loads all of its locales from every entry point; the bundle has the
 *   English one the config's errors use (see src/config/zod-subset.ts).
 * - cognito/aws-sdk-subset.cjs: tsc's re-export of the AWS SDK clients replaced with the
 *   clients and commands it names, tree-shaken from their ES modules (see
 *   src/cognito/aws-sdk-subset.cts).
 * - cli/bin.cjs, the bin: src/cli/bin.ts and what it imports, as one CommonJS file (see
 *   there). Its dynamic imports (main.js, and what the commands load on use) stay imports of
 *   tsc's ES modules beside it.
 *
 * The bin gets a source map to our src/, so that coverage and stack traces point there. The zod
 * and SDK bundles get none, and the coverage report leaves them out (`c8 ignore`): they are
 * zod's and the SDK's code, and a map to their files would bring them into the report (tap leaves out node_modules only by
 * the path of the file that ran).
 * Plain JavaScript, not TypeScript: it runs where only tsc's output and node_modules exist.
 */
import { chmodSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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

// Without zod's comments (minifyWhitespace): one of them holds a character beyond Latin-1,
// which would make V8 keep the whole source as two bytes a character in every daemon (~370 KB,
// not ~145).
await bundleOfPackages('src/config/zod-subset.ts', join(dist, 'config', 'zod-subset.js'), { format: 'esm' });

await bundleOfPackages('src/cognito/aws-sdk-subset.cts', join(dist, 'cognito', 'aws-sdk-subset.cjs'), {
  format: 'cjs',
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

const bin = join(dist, 'cli', 'bin.cjs');
await build({
  ...common,
  entryPoints: ['src/cli/bin.ts'],
  outfile: bin,
  format: 'cjs',
  // Packages from node_modules as they are (the bin's own code uses none but Node's).
  packages: 'external',
  plugins: [dynamicImportsOfTscOutput()],
  // A module that needs import.meta cannot be in a CommonJS bundle: fail the build.
  logOverride: { 'empty-import-meta': 'error' },
});
chmodSync(bin, 0o755);
// main.js runs on its own too (the bin of earlier builds, which links npm made may still name).
chmodSync(join(dist, 'cli', 'main.js'), 0o755);

/**
 * The parts of packages that one of our modules re-exports, bundled in place of tsc's output of
 * that module: no source map (tsc's describes the re-export; see above for why not the
 * packages'), kept out of the coverage report, no whitespace.
 */
async function bundleOfPackages(entry, outfile, options) {
  rmSync(`${outfile}.map`, { force: true });
  await build({
    ...common,
    entryPoints: [entry],
    outfile,
    sourcemap: false,
    minifyWhitespace: true,
    banner: { js: '/* c8 ignore start */' },
    footer: { js: '/* c8 ignore stop */' },
    ...options,
  });
}

/**
 * Leaves every dynamic import of one of our modules out of the bundle, as an import of tsc's
 * output of that module (its path from dist/src/cli/, where the bin is): what the commands
 * load on use stays loaded on use, and main.js's graph is the one the tests import.
 */
function dynamicImportsOfTscOutput() {
  return {
    name: 'dynamic-imports-of-tsc-output',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\//, namespace: 'file' }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const target = join(dist, relative(join(root, 'src'), resolve(dirname(args.importer), args.path)));
        let path = relative(dirname(bin), target);
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}
