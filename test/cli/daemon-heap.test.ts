import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { withoutTapHooks } from '../../testkit/children.js';
import { compiledPath } from '../support/paths.js';
import { freshNewSpaceBytes, heapAtExit } from '../support/recorded-runs.js';

const MODULE = pathToFileURL(compiledPath('src/cli/daemon-heap.ts')).href;

/** Runs `code` as an ES module in a node with V8's natives syntax (%GetOptimizationStatus): the JSON it printed. */
function inRealV8<T>(t: Test, code: string): T {
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', code], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as T;
}

// The heap recorder allocates as a busy server does before the process exits. V8 may take one
// step up from where a process starts (1 to 2 MB on Node 20), not the steps to 32 MB that it
// takes by default.
t.test('the young generation stays within twice its starting size under allocation', async (t) => {
  const freshSize = freshNewSpaceBytes();
  const plain = (await heapAtExit(['-e', '0'], process.env)).spaces;
  t.ok((plain.new_space ?? 0) > 2 * freshSize, 'without the limit, the allocation grows the new space further (so the check below can fail)', { newSpace: plain.new_space, freshSize });
  const limited = (await heapAtExit(['--input-type=module', '-e', `(await import(${JSON.stringify(MODULE)})).limitYoungGeneration();`], process.env)).spaces;
  t.ok((limited.new_space ?? Infinity) <= 2 * freshSize, 'with it, it does not', { newSpace: limited.new_space, freshSize });
});

t.test('optimization is left alone when node was started with compiler options of its own', async (t) => {
  const { deferOptimization, resumeOptimization } = await import(MODULE) as typeof import('../../src/cli/daemon-heap.js');
  const set: string[] = [];
  deferOptimization((flags) => set.push(flags), []);
  resumeOptimization((flags) => set.push(flags), []);
  t.same(set, ['--no-opt --no-maglev', '--opt'], 'by default: off while serve starts, then on (Maglev stays off)');
  for (const chosen of [['--no-opt'], ['--jitless'], ['--max-old-space-size=100', '--turbofan']]) {
    deferOptimization((flags) => set.push(flags), chosen);
    resumeOptimization((flags) => set.push(flags), chosen);
  }
  t.same(set, ['--no-opt --no-maglev', '--opt'], 'nothing set over node --no-opt, --jitless or --turbofan');
});

// The real V8 of this Node: a hot function stays unoptimized while optimization is deferred,
// and gets optimized once it is resumed (%GetOptimizationStatus, bit 16: optimized).
t.test('optimization deferred: hot code is not optimized until it is resumed', async (t) => {
  const code = `
    const { deferOptimization, resumeOptimization } = await import(${JSON.stringify(MODULE)});
    const status = new Function('f', 'return %GetOptimizationStatus(f)');
    function hot(n) { let s = 0; for (let i = 0; i < n; i++) s += (i * 7) % 13; return s; }
    const warm = () => { for (let round = 0; round < 50 && (status(hot) & 16) === 0; round++) for (let i = 0; i < 200; i++) hot(1000); };
    deferOptimization();
    warm();
    const deferred = status(hot);
    resumeOptimization();
    warm();
    console.log(JSON.stringify({ deferred, resumed: status(hot) }));`;
  const { deferred, resumed } = inRealV8<{ deferred: number; resumed: number }>(t, code);
  t.equal(deferred & 16, 0, 'not optimized while deferred', { deferred: deferred.toString(2) });
  t.equal(resumed & 16, 16, 'optimized once resumed', { resumed: resumed.toString(2) });
});

// Node 24's V8 runs Maglev by default (20's and 22's do not: there the first half shows no
// Maglev code, and the test says it has nothing to check). A small function called often
// gets Maglev code first, then, much later, TurboFan's.
t.test('Maglev stays off after deferOptimization, and the optimizing compiler still takes hot code', async (t) => {
  const code = `
    const { deferOptimization, resumeOptimization } = await import(${JSON.stringify(MODULE)});
    const status = new Function('f', 'return %GetOptimizationStatus(f)');
    // Status bits: 32, Maglev code; 64, TurboFan code.
    const warm = (f) => {
      let maglev = false;
      for (let round = 0; round < 20000 && (status(f) & 64) === 0; round++) {
        for (let i = 0; i < 20; i++) f(i, round);
        if (status(f) & 32) maglev = true;
      }
      return { maglev, turbofan: (status(f) & 64) !== 0 };
    };
    const make = () => new Function('a', 'b', 'return { sum: a + b, product: a * b, text: "x" + a };');
    const byDefault = warm(make());
    deferOptimization();
    resumeOptimization();
    console.log(JSON.stringify({ byDefault, kept: warm(make()) }));`;
  const { byDefault, kept } = inRealV8<Record<'byDefault' | 'kept', { maglev: boolean; turbofan: boolean }>>(t, code);
  if (!byDefault.maglev) {
    t.skip(`this Node's V8 (${process.versions.v8}) compiled no Maglev code by default: nothing to keep off`, () => {});
    return;
  }
  t.equal(kept.maglev, false, 'no Maglev code once deferred and resumed');
  t.equal(kept.turbofan, true, 'the optimizing compiler still optimizes the hot function');
});

t.test('optimization resumes once start-up settles, or at the limit if it never does, and only once', async (t) => {
  const { resumeOptimizationAfter } = await import(MODULE) as typeof import('../../src/cli/daemon-heap.js');
  let resumed = 0;
  const resume = () => void (resumed += 1);
  let settle!: () => void;
  const startUp = new Promise<void>((resolve) => (settle = resolve));
  const afterStartUp = resumeOptimizationAfter(startUp, 60_000, resume);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(resumed, 0, 'not while the first refreshes run');
  settle();
  await afterStartUp;
  t.equal(resumed, 1, 'once they are over');

  resumed = 0;
  await resumeOptimizationAfter(Promise.reject(new Error('a refresh failed')), 60_000, resume);
  t.equal(resumed, 1, 'a start-up that failed is over too');

  resumed = 0;
  // A start-up that ends only after the limit (a refresh that hung, then got its answer).
  const late = new Promise<void>((resolve) => setTimeout(resolve, 60));
  // The limit's timer holds no event loop open (serve's listeners do): this test's must.
  const keepAlive = setTimeout(() => {}, 1000);
  await resumeOptimizationAfter(late, 20, resume);
  t.equal(resumed, 1, 'a refresh that hangs does not keep optimization off past the limit');
  await late;
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(resumed, 1, 'and its end does not resume it a second time');
  clearTimeout(keepAlive);
});

// The real V8 of this Node, started as serve is (no --expose-gc: compactAfterStartUp gets its
// gc() itself), in a process without tap's coverage, under which V8 never drops bytecode. What
// start-up leaves: functions that ran once and stay reachable (modules' code), and pages where
// many objects died (what loading allocated; here, half the objects on every page, which V8's
// own heuristics leave where they are). Plain full collections (%CollectGarbage) keep both;
// compactAfterStartUp gives them back, and puts V8's flags back, so that later collections are
// plain again (the second round shows they kept both).
t.test('compactAfterStartUp drops the bytecode of code that ran once and compacts the heap; later collections are plain again', async (t) => {
  const code = `
    const { compactAfterStartUp } = await import(${JSON.stringify(MODULE)});
    const v8 = await import('node:v8');
    const plainCollection = new Function('%CollectGarbage(null)');
    // Every space but the young generation's: V8 12 (Node 22) keeps bytecode in a space of its own.
    const heap = () => {
      const old = v8.getHeapSpaceStatistics().filter((s) => !s.space_name.startsWith('new_'));
      return { used: old.reduce((n, s) => n + s.space_used_size, 0), size: old.reduce((n, s) => n + s.space_size, 0) };
    };
    const kept = [];
    const round = (tag) => {
      // Each call compiles a function's body, as a module's code does when it first runs.
      for (let i = 0; i < 3000; i++) {
        const f = new Function('a', 'let s = 0; for (let j = 0; j < a; j++) { s += j * ' + i + ' + "' + tag + '".length; if (s > 1e9) s = s % 7; } return [s, { i: ' + i + ', s }, "' + tag + i + '"];');
        f(3);
        kept.push(f);
      }
      let junk = Array.from({ length: 400000 }, (_, i) => ({ i, text: tag + i }));
      plainCollection();
      kept.push(junk.filter((_, i) => i % 2 === 0));
      junk = null;
      // Enough for V8's own heuristics to compact what they would; fewer than the collections
      // after which V8 drops bytecode that has not run on its own (5).
      for (let i = 0; i < 3; i++) plainCollection();
      const plain = heap();
      const compacted = compactAfterStartUp() ? heap() : null;
      return { plain, compacted };
    };
    const rounds = [round('a'), round('b')];
    const { runInNewContext } = await import('node:vm');
    console.log(JSON.stringify({ rounds, gcLeft: typeof globalThis.gc !== 'undefined' || runInNewContext('typeof gc') !== 'undefined' }));`;
  const run = spawnSync(...withoutTapHooks(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', code]), { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  type Heap = { used: number; size: number };
  const { rounds, gcLeft } = JSON.parse(run.stdout) as { rounds: { plain: Heap; compacted: Heap | null }[]; gcLeft: boolean };
  for (const [i, r] of rounds.entries()) {
    const which = i === 0 ? 'first' : 'second (after plain collections)';
    if (!r.compacted) {
      t.fail(`${which}: compactAfterStartUp did nothing`);
      continue;
    }
    t.ok(r.compacted.used < r.plain.used - 2 ** 19, `${which}: less in use, the bytecode of 3,000 functions that ran once is gone`, r);
    t.ok(r.compacted.size < r.plain.size - 4 * 2 ** 20, `${which}: a smaller heap, the pages where half the objects had died compacted and given back`, r);
  }
  t.equal(gcLeft, false, 'no gc() left behind, in the process or in contexts made later (--expose-gc is off again)');
});

t.test("compactAfterStartUp leaves node's own GC options alone, and puts its flags back when the collection fails", async (t) => {
  const { compactAfterStartUp } = await import(MODULE) as typeof import('../../src/cli/daemon-heap.js');
  const set: string[] = [];
  const record = (flags: string) => void set.push(flags);
  for (const chosen of [['--expose-gc'], ['--expose-gc-as=collect'], ['--no-flush-bytecode'], ['--stress-flush-code']]) {
    t.equal(compactAfterStartUp(record, chosen, () => t.fail('collected')), false, `nothing done under node ${chosen[0]}`);
  }
  t.same(set, [], 'no flag set');
  t.throws(() => compactAfterStartUp(record, [], () => { throw new Error('no gc'); }), /no gc/, "the collection's failure reaches the caller (serve logs it)");
  t.same(set, ['--compact-on-every-full-gc --stress-flush-code', '--no-compact-on-every-full-gc --no-stress-flush-code'], 'and the flags are back as they were');
});
