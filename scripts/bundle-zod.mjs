/**
 * The build's last step (package.json's build, test and test:node, after tsc): replaces
 * dist/src/config/zod-subset.js, tsc's re-export of zod, with the parts of zod it names,
 * bundled and tree-shaken by esbuild. zod 4 loads all of its locales from every entry point;
 * the bundle has the English one that the config's errors use (see src/config/zod-subset.ts).
 *
 * Plain JavaScript, not TypeScript: it runs where only tsc's output and node_modules exist.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/src/config/zod-subset.js`;

// tsc's map describes the re-export, not the bundle; esbuild writes the bundle's own.
rmSync(`${outfile}.map`, { force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/config/zod-subset.ts'],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  // package.json's engines: the oldest Node the bundle must run on.
  target: 'node20.17',
  // Maps the bundle's lines to zod's own files in node_modules, which coverage leaves out.
  sourcemap: 'linked',
  logLevel: 'warning',
});
