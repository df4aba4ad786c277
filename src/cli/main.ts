import { runCli } from './run-cli.js';

// The CLI's bundle (scripts/bundle.mjs) runs this when the bin requires it (run-main.ts, after
// V8's settings and the compile cache). All of the CLI is runCli (tests call it in-process);
// this only sets the exit code.
void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
