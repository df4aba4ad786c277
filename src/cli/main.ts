#!/usr/bin/env node
import { enableCompileCache } from './compile-cache.js';
import { runCli } from './run-cli.js';

// Before any command's module loads (run-cli imports each one when it runs).
enableCompileCache();

// All of the CLI is runCli (tests call it in-process); the bin only sets the exit code.
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
