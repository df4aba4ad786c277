/**
 * `node --import ./heap-recorder.mjs ...`: when the process exits or gets SIGTERM (a daemon
 * that re-raises the signal after its shutdown has no 'exit' event), allocates 200 MB of
 * short-lived objects, one in a thousand kept (a server's requests and what it keeps of them),
 * then writes the size of V8's heap spaces (name → bytes reserved) as JSON to
 * HEAP_RECORD_FILE. The allocation shows how the process's heap is configured to grow, which
 * V8 otherwise decides from timing; the process's own SIGTERM handling is unchanged (this
 * listener is one more).
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
    for (let i = 0; i < 4_000_000; i += 1) {
      const o = { i, s: `request ${i}`, a: [i, i + 1] };
      if (i % 1000 === 0) kept.push(o);
    }
    writeFileSync(file, JSON.stringify(Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]))));
  };
  process.on('exit', record);
  process.once('SIGTERM', record);
}
