import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
}

/**
 * This installation's root directory (where its package.json is), found upwards from this
 * module wherever it runs: tsc's output in dist/src/cli/, the bin's bundle in
 * dist/src/bundle/ (scripts/bundle.mjs), or src/cli/ from source. Undefined if none is found.
 */
export function packageRoot(): string | undefined {
  return ourPackage()?.dir;
}

/** The installation's version from its package.json. */
export function packageVersion(): string {
  return ourPackage()?.json.version ?? 'unknown';
}

function ourPackage(): { dir: string; json: PackageJson } | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const json = packageJson(dir);
    if (json?.name === 'cognito-broker') return { dir, json };
    if (dirname(dir) === dir) return undefined;
  }
}

function packageJson(dir: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}
