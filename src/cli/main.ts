#!/usr/bin/env node
import { runCli } from './run-cli.js';

// Before any command's module loads (run-cli imports each one when it runs). Node >= 22.1
// only: on Node 20 not even the module that sets it up is loaded (its imports cost every
// command, `status --prompt` in each shell prompt included, about 6 ms).
if ('enableCompileCache' in process.getBuiltinModule('node:module')) (await import('./compile-cache.js')).enableCompileCache();
// The daemon's memory; only serve's, so that other commands do not load node:v8 for it. serve
// turns optimization back on once its start-up is over (serve.ts).
if (process.argv[2] === 'serve') {
  const heap = await import('./daemon-heap.js');
  heap.limitYoungGeneration();
  heap.deferOptimization();
}

// All of the CLI is runCli (tests call it in-process); the bin only sets the exit code.
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
