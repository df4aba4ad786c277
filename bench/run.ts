/**
 * `npm run bench` (after `npm run build`): every benchmark of issue 4 in one run, on this
 * machine, against processes it starts and stops itself. Progress goes to stderr, the
 * report (Markdown, the tables BENCHMARKS.md quotes) to stdout; --out DIR also writes
 * report.md and results.json there.
 *
 *   node dist/bench/run.js [--quick] [--only LIST] [--rounds N] [--warmup S] [--duration S]
 *                          [--requests N] [--runs N] [--wait-quiet MINUTES] [--out DIR]
 *                          [--cpu-prof DIR]
 *
 * Sections (--only takes a comma-separated list): throughput, economy, burst, new-process,
 * startup, memory, prompt.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runThroughput, type ThroughputResult } from './endpoint-throughput.js';
import { renderReport, type BenchResults } from './report.js';
import { startBrokerStack, type BrokerStack } from './support/broker-stack.js';
import { loadGenerator } from './support/load.js';
import { loadAverage, machineInfo, sourceVersion, waitForQuietMachine } from './support/machine.js';
import { runEconomy } from './upstream-economy.js';
import { runPromptSpawn } from './prompt-spawn.js';
import { runBurst, runMemory, runNewProcess, runStartup } from './stack-benchmarks.js';

// The SDK's notice about Node 22 (the local stack's admin client) is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const SECTIONS = ['throughput', 'economy', 'burst', 'new-process', 'startup', 'memory', 'prompt'] as const;
type Section = (typeof SECTIONS)[number];

/** ~60 ms: a round trip from a laptop to a Cognito region elsewhere on the continent. */
export const UPSTREAM_DELAY_MS = 60;
export const QUIET_LOAD = 0.7;

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      requests: { type: 'string' },
      runs: { type: 'string' },
      'paced-rate': { type: 'string' },
      'wait-quiet': { type: 'string' },
      out: { type: 'string' },
      'cpu-prof': { type: 'string' },
      cli: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const quick = values.quick === true;
  const number = (value: string | undefined, full: number, short: number) => (value === undefined ? (quick ? short : full) : Number(value));
  const options = {
    rounds: number(values.rounds, 5, 1),
    warmupS: number(values.warmup, 3, 1),
    durationS: number(values.duration, 10, 3),
    requests: number(values.requests, 1_000_000, 100_000),
    pacedRate: number(values['paced-rate'], 5_000, 5_000),
    runs: number(values.runs, 7, 3),
    economyHours: 3,
    economyRealSeconds: quick ? 10 : 30,
    burst: 1000,
  };
  const only = new Set((values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()) as Section[]);
  for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section "${s}" (sections: ${SECTIONS.join(', ')})`);

  const quiet = await waitForQuietMachine(QUIET_LOAD, Number(values['wait-quiet'] ?? 0) * 60_000, 60_000, log);
  const results: BenchResults = {
    date: new Date().toISOString(),
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(loadGenerator()),
    source: sourceVersion(),
    loadBefore: quiet.load,
    waitedForQuietMs: quiet.waitedMs,
    loadAtStart: {},
    options,
    sections: {},
  };
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const load = loadAverage();
    log(`\n== ${name} (load average ${load.join(' ')})`);
    const started = performance.now();
    const value = await fn();
    log(`== ${name} done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    results.loadAtStart[name] = load;
    return value;
  };

  if (only.has('throughput')) {
    results.sections.throughput = await timed('throughput', (): Promise<ThroughputResult> =>
      runThroughput({
        rounds: options.rounds,
        warmupS: options.warmupS,
        durationS: options.durationS,
        connections: [1, 50],
        pacedRate: options.pacedRate,
        log,
        ...(values['cpu-prof'] ? { brokerNodeFlags: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] } : {}),
      }),
    );
  }
  if (only.has('economy')) {
    results.sections.economy = await timed('economy', () => runEconomy(options.economyHours, options.economyRealSeconds));
  }
  const stackSections = (['burst', 'new-process', 'startup', 'memory', 'prompt'] as const).filter((s) => only.has(s));
  if (stackSections.length > 0) {
    log('\n== starting the local stack (cognito-local, identity-pool emulator, proxies, private Secret Service)');
    const bs: BrokerStack = await startBrokerStack(values.cli ? { cli: resolve(values.cli) } : {});
    const stopStack = () => bs.stop();
    interrupts.add(stopStack);
    try {
      await bs.login();
      if (only.has('burst')) results.sections.burst = await timed('burst', () => runBurst(bs, options.burst, UPSTREAM_DELAY_MS));
      if (only.has('new-process')) results.sections.newProcess = await timed('new-process', () => runNewProcess(bs, options.runs, UPSTREAM_DELAY_MS));
      if (only.has('startup')) {
        results.sections.startup = await timed('startup', async () => ({
          withDelay: await runStartup(bs, options.runs, UPSTREAM_DELAY_MS),
          noDelay: await runStartup(bs, options.runs, 0),
          cold: await runStartup(bs, options.runs, UPSTREAM_DELAY_MS, undefined, true),
        }));
      }
      if (only.has('memory')) results.sections.memory = await timed('memory', () => runMemory(bs, options.requests, log));
      if (only.has('prompt')) results.sections.prompt = await timed('prompt', () => runPromptSpawn(bs, options.runs * 3));
    } finally {
      interrupts.delete(stopStack);
      await bs.stop();
    }
  }
  results.loadAfter = loadAverage();

  const { markdown, failures } = renderReport(results);
  process.stdout.write(`${markdown}\n`);
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, 'report.md'), `${markdown}\n`);
    writeFileSync(join(values.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${join(values.out, 'report.md')} and results.json`);
  }
  if (failures.length > 0) log(`\ncorrectness checks failed:\n  ${failures.join('\n  ')}`);
  return failures.length > 0 ? 1 : 0;
}

const USAGE = `Usage: node dist/bench/run.js [options]      (npm run build first)

  --quick              short rounds, for trying it out (1 round of 1 s + 3 s, 100,000 requests)
  --only LIST          some of: ${SECTIONS.join(',')}
  --rounds N           throughput rounds (default 5); the report quotes medians
  --warmup S           throughput warm-up per server and connection count (default 3)
  --duration S         throughput measurement per server and connection count (default 10)
  --paced-rate N       offered req/s of the open-loop latency run at 50 connections (default 5,000; 0 skips it)
  --requests N         requests before the "after" memory reading (default 1,000,000)
  --runs N             runs of the new-process and start-up timings (default 7; status --prompt: 3 × N)
  --wait-quiet M       first wait up to M minutes for the 1-minute load average to fall below ${QUIET_LOAD}
  --out DIR            also write DIR/report.md and DIR/results.json
  --cpu-prof DIR       run the broker under test with node --cpu-prof, profiles into DIR
  --cli PATH           measure another build's CLI (its dist/src/cli/bin.cjs, or main.js) in the start-up,
                       memory and prompt sections, for a before/after on the same machine
`;

// Ctrl-C: stop what was started (the stack, the keychain daemons), then exit.
const interrupts = new Set<() => Promise<void>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping everything the benchmark started`);
    void Promise.allSettled([...interrupts].map((fn) => fn())).finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    void Promise.allSettled([...interrupts].map((fn) => fn())).finally(() => process.exit(1));
  },
);
