import { mkdirSync } from 'node:fs';
import nodeModule from 'node:module';
import { join } from 'node:path';
import { cacheDir } from '../config/platform-paths.js';
import { ownPrivateDir } from '../store/private-paths.js';

/** node:module's enableCompileCache: Node >= 22.1 only (and not in @types/node 20). */
export type EnableCompileCache = (dir: string) => unknown;

const nodeEnableCompileCache = (nodeModule as { enableCompileCache?: EnableCompileCache }).enableCompileCache;

/**
 * Most of `serve`'s start-up is compiling modules; Node >= 22.1 can keep the compiled code
 * on disk. In a directory of the user's own (0700), not Node's default in the shared temp
 * directory, where another user could plant entries. Any failure only means no cache; on
 * Node 20 this does nothing.
 */
export function enableCompileCache(dir = join(cacheDir(), 'compile-cache'), enable = nodeEnableCompileCache): void {
  if (!enable) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!ownPrivateDir(dir)) return;
    enable(dir);
  } catch {
    // No cache: start-up is only slower.
  }
}
