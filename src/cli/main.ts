#!/usr/bin/env node
import { runCli } from './run-cli.js';

// All of the CLI is runCli (tests call it in-process); the bin only sets the exit code.
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
