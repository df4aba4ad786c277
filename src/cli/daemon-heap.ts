import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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

/** How long serve's start-up may keep optimization off at most (see resumeOptimizationAfter). */
export const START_UP_LIMIT_MS = 10_000;

/**
 * Keeps V8's optimizing compiler off while serve starts: loading the AWS SDK, fastify and the
 * config, and the sessions' first refreshes, make enough functions hot for it to compile code
 * that runs once, and what it touches and allocates doing so stays in an idle daemon's memory
 * (about 5 MB of RSS on Node 20, measured in bench/). resumeOptimizationAfter() turns it back
 * on once start-up is over, so the code that serves requests is optimized as ever under load.
 *
 * Maglev, the mid-tier compiler that Node 24 and later run by default, stays off for good:
 * serve's hot path is a few functions that the optimizing compiler takes anyway, and what
 * Maglev's compile jobs allocated stayed in a daemon under load (4-12 MB of peak RSS on
 * Node 24, measured in bench/). Node 20 and 22 have it off already.
 */
export function deferOptimization(setFlags: (flags: string) => void = setFlagsFromString, execArgv: readonly string[] = process.execArgv): void {
  if (!compilerChosen(execArgv)) setFlags('--no-opt --no-maglev');
}

/** The optimizing compiler back on (V8's default), after deferOptimization; Maglev stays off. */
export function resumeOptimization(setFlags: (flags: string) => void = setFlagsFromString, execArgv: readonly string[] = process.execArgv): void {
  if (!compilerChosen(execArgv)) setFlags('--opt');
}

/**
 * resumeOptimization() once `startUp` has settled (serve: listening, and every session's first
 * refresh over; the first after a login also asks GetId, and serve often listens before it
 * ends), or after limitMs if it has not: a refresh that hangs must not leave serve unoptimized.
 * The wait holds no event loop open.
 */
export function resumeOptimizationAfter(startUp: Promise<unknown>, limitMs = START_UP_LIMIT_MS, resume: () => void = () => resumeOptimization()): Promise<void> {
  return new Promise((resolve) => {
    let resumed = false;
    const once = () => {
      clearTimeout(timer);
      if (resumed) return;
      resumed = true;
      resume();
      resolve();
    };
    const timer = setTimeout(once, limitMs);
    timer.unref();
    startUp.then(once, once);
  });
}

/**
 * How long after start-up is over serve waits to compactAfterStartUp: a client waiting for the
 * credentials often asks the moment they are there, and the collection's one pause (25-60 ms
 * on a 2-core machine) is not to be in its way.
 */
export const COMPACT_AFTER_START_UP_MS = 1_000;

/**
 * One full garbage collection once serve's start-up is over, that compacts the heap and drops
 * the bytecode of the functions that ran and are not running: loading the AWS SDK, fastify and
 * the config, and the first refreshes, ran a lot of code once, and a plain collection keeps
 * its bytecode (V8 drops it only after several) and leaves the heap's pages as fragmented as
 * loading made them. V8's memory reducer does much the same on its own, but only some 8 s
 * after start-up's last collection: until then an idle serve holds 2-3 MB more on Node 20,
 * 5-6 MB on 22 and 24 (measured in bench/). What runs again (a refresh, the request path) is
 * compiled again from source when it is next called, once. (V8 keeps async functions' and generators' bytecode, and keeps all
 * of it while a coverage run or an inspector is attached; a collection it had already begun
 * on its own is finished as it began.) The flags are V8's own and are put back at once, so
 * later collections are as ever. Returns false, and does nothing, when node was started with
 * options of its own for these (`node --expose-gc …`): they are left as they are.
 */
export function compactAfterStartUp(setFlags: (flags: string) => void = setFlagsFromString, execArgv: readonly string[] = process.execArgv, collect: () => void = () => fullCollection(setFlags)()): boolean {
  if (execArgv.some((arg) => /^--(no-)?(expose-gc|expose-gc-as|compact-on-every-full-gc|stress-flush-code|flush-bytecode)(=|$)/.test(arg))) return false;
  setFlags('--compact-on-every-full-gc --stress-flush-code');
  try {
    collect();
  } finally {
    setFlags('--no-compact-on-every-full-gc --no-stress-flush-code');
  }
  return true;
}

/**
 * A full collection through V8's `gc()`, which only a context made after --expose-gc gets: a
 * vm context of its own. From V8 12 (Node 22) on, V8 keeps the pages a plain collection frees
 * for its own later use, and gives them back only in a collection that reduces memory, the
 * 'last-resort' flavour of gc() (which V8 11, Node 20's, does not know, and where a plain one
 * gives them back): a plain one there left serve 8 MB larger until the memory reducer ran.
 */
function fullCollection(setFlags: (flags: string) => void): () => void {
  setFlags('--expose-gc');
  let gc: unknown;
  try {
    gc = runInNewContext('gc');
  } finally {
    setFlags('--no-expose-gc');
  }
  if (typeof gc !== 'function') throw new Error('V8 gave a new context no gc() after --expose-gc');
  const collect = gc as (options?: object) => void;
  if (Number(process.versions.v8.split('.')[0]) < 12) return () => collect();
  return () => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** node's own options set the compilers (`node --no-opt .../bin.cjs serve`): left as they are. */
function compilerChosen(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--(no-)?(opt|turbofan|maglev|sparkplug)$|^--jitless$/.test(arg));
}
