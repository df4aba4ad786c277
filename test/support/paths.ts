import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's root. Tests run compiled from dist/test (see docs/testing.md), so a path
 * relative to a test file would point into dist/: files that are not compiled (docs, Python
 * drivers, .mjs hooks, package.json) are found from here instead.
 */
export const REPO = findRoot(dirname(fileURLToPath(import.meta.url)));

export function repoPath(...parts: string[]): string {
  return join(REPO, ...parts);
}

/** The compiled form of a TypeScript file of the repository: 'test/support/x.ts' → dist/test/support/x.js. */
export function compiledPath(source: string): string {
  return join(REPO, 'dist', source.replace(/\.ts$/, '.js'));
}

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
