/**
 * `node --import ./heap-recorder.mjs ...`: when the process exits or gets SIGTERM (a daemon
 * that re-raises the signal after its shutdown has no 'exit' event), allocates 200 MB of
 * short-lived objects, one in a thousand kept (a server's requests and what it keeps of them),
 * then writes as JSON to HEAP_RECORD_FILE the size of V8's heap spaces (`spaces`: name →
 * bytes reserved) and, when node runs with --allow-natives-syntax, whether V8 optimized the
 * function that allocated (`optimized`, from %GetOptimizationStatus): whether the process
 * has its optimizing compiler on at that point. The allocation shows how the process's heap is
 * configured to grow, which V8 otherwise decides from timing; the process's own SIGTERM
 * handling is unchanged (this listener is one more).
 */
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const file = process.env.HEAP_RECORD_FILE;
if (file) {
  let recorded = false;
  const record = () => {
    if (recorded) return;
    recorded = true;
    const kept = [];
    const request = (i) => ({ i, s: `request ${i}`, a: [i, i + 1] });
    for (let i = 0; i < 4_000_000; i += 1) {
      const o = request(i);
      if (i % 1000 === 0) kept.push(o);
    }
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
    writeFileSync(file, JSON.stringify({ spaces, optimized: optimizationStatus(request) }));
  };
  process.on('exit', record);
  process.once('SIGTERM', record);
}

/** Whether V8 optimized `f` (status bit 16); undefined without --allow-natives-syntax. */
function optimizationStatus(f) {
  try {
    return (new Function('f', 'return %GetOptimizationStatus(f)')(f) & 16) !== 0;
  } catch {
    return undefined;
  }
}
