import { requireBundle, saveBundleCodeCache } from '../require-bundle.js';
import { enableCompileCache } from './compile-cache.js';
import { deferOptimization, limitYoungGeneration } from './daemon-heap.js';

/**
 * Every command the bin does not answer itself: V8's settings for serve, the compile cache,
 * then the CLI's bundle (main.ts and all it imports, scripts/bundle.mjs), which runs the
 * command. In this order: V8 takes code from a cache only under the flags it was cached with.
 */
export function runMain(argv: readonly string[], from: string): void {
  // The daemon's memory and start-up; only serve's. It turns optimization back on once its
  // start-up is over (serve.ts).
  const serving = argv[0] === 'serve';
  if (serving) {
    limitYoungGeneration();
    deferOptimization();
  }
  // A command other than serve writes its code cache (Node 20's, of the bundles it loaded) as
  // it exits; serve does when its start-up is over.
  enableCompileCache(serving ? 'serve' : 'command');
  if (!serving) process.once('exit', () => saveBundleCodeCache());
  requireBundle(from, '../bundle/main.cjs');
}
