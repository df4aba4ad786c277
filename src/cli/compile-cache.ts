import { mkdirSync } from 'node:fs';
import nodeModule from 'node:module';
import { join } from 'node:path';
import { cacheDir } from '../config/platform-paths.js';
import { enableBundleCodeCache } from '../require-bundle.js';
import { ownPrivateDir } from '../store/private-paths.js';

/** node:module's enableCompileCache: Node >= 22.1 only (and not in @types/node 20). */
export type EnableCompileCache = (dir: string) => unknown;

const nodeEnableCompileCache = (nodeModule as { enableCompileCache?: EnableCompileCache }).enableCompileCache;

/**
 * Most of `serve`'s start-up is compiling modules, which can be kept on disk: Node >= 22.1
 * keeps its compile cache of every module; on Node 20, V8's code cache of our bundles (the
 * CLI's and those of packages) is kept by src/require-bundle.ts (`flags` names the V8 flags
 * the process runs with: see there). In a directory of the user's own (0700), not Node's default in the shared
 * temp directory, where another user could plant entries: the code read from it runs. Any
 * failure only means no cache.
 */
export function enableCompileCache(flags: string, dir = join(cacheDir(), 'compile-cache'), enable: EnableCompileCache = nodeEnableCompileCache ?? ((d) => enableBundleCodeCache(d, flags))): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!ownPrivateDir(dir)) return;
    enable(dir);
  } catch {
    // No cache: start-up is only slower.
  }
}
