import { setFlagsFromString } from 'node:v8';

/**
 * Keeps a long-running process's young generation (V8's new space) near its starting size
 * (1-2 MB on Node 20) instead of letting it grow to 32 MB. Node's default trades memory for
 * fewer scavenges; `serve` allocates little per request and runs for days, and the grown young
 * generation was most of its peak RSS under load, for no gain in requests per second.
 * `--max-semi-space-size=1` would do it from the command line, which a bin started as
 * `cognito-broker serve` cannot portably pass (a shebang's `env -S` is missing from BusyBox).
 * V8 reads the growth factor each time it would grow the space, so setting it at run time
 * takes effect; it must come before the daemon loads its modules, whose loading would grow the
 * space first.
 */
export function limitYoungGeneration(setFlags: (flags: string) => void = setFlagsFromString): void {
  // 1 means "grow by a factor of one": never. (0 would crash V8.)
  setFlags('--semi-space-growth-factor=1');
}

/**
 * Keeps V8's optimizing compiler off while serve starts: loading the AWS SDK, fastify and the
 * config makes enough functions hot for it to compile code that runs once, and what it
 * touches and allocates doing so stays in an idle daemon's memory (about 5 MB of RSS on Node
 * 20, measured in bench/). resumeOptimization() turns it back on once serve listens, so the
 * code that serves requests is optimized as ever under load. V8 takes the flag at run time on
 * Node 20 and 22; on 24 it has no effect, and nothing else changes.
 */
export function deferOptimization(setFlags: (flags: string) => void = setFlagsFromString, execArgv: readonly string[] = process.execArgv): void {
  if (!compilerChosen(execArgv)) setFlags('--no-opt');
}

/** The optimizing compiler back on (V8's default), after deferOptimization. */
export function resumeOptimization(setFlags: (flags: string) => void = setFlagsFromString, execArgv: readonly string[] = process.execArgv): void {
  if (!compilerChosen(execArgv)) setFlags('--opt');
}

/** node's own options set the compilers (`node --no-opt .../bin.cjs serve`): left as they are. */
function compilerChosen(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--(no-)?(opt|turbofan|maglev|sparkplug)$|^--jitless$/.test(arg));
}
