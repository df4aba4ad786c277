#!/usr/bin/env node
import { enableCompileCache } from './compile-cache.js';
import { saveBundleCodeCache } from '../require-bundle.js';
import { runCli } from './run-cli.js';

// The daemon's memory; only serve's, so that other commands do not load node:v8 for it. serve
// turns optimization back on once its start-up is over (serve.ts).
const serving = process.argv[2] === 'serve';
if (serving) {
  const heap = await import('./daemon-heap.js');
  heap.limitYoungGeneration();
  heap.deferOptimization();
}
// Before any command's module loads (run-cli imports each one when it runs). A command other
// than serve writes its code cache (Node 20's, of the bundles it loaded) as it exits; serve
// does when its start-up is over.
enableCompileCache(serving ? 'serve' : 'command');
if (!serving) process.once('exit', () => saveBundleCodeCache());

// All of the CLI is runCli (tests call it in-process); the bin only sets the exit code.
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
