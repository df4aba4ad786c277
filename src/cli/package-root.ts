import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * This installation's root directory (where its package.json is), found upwards from this
 * module wherever it runs: tsc's output in dist/src/cli/, the bin's bundle in
 * dist/src/bundle/ (scripts/bundle.mjs), or src/cli/ from source. Undefined if none is found.
 */
export function packageRoot(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (packageJson(dir)?.name === 'cognito-broker') return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The installation's version from its package.json. */
export function packageVersion(): string {
  const root = packageRoot();
  return (root && packageJson(root)?.version) ?? 'unknown';
}

function packageJson(dir: string): { name?: string; version?: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
  } catch {
    return undefined;
  }
}
