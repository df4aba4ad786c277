/**
 * A/B of the broker's hot path between builds: each build's own
 * dist/bench/servers/target-server.js --kind broker, the same load, alternating, several
 * rounds. For checking a change to src/server or src/broker before it lands: copy the
 * repository, change it, build it, then
 *
 *   node dist/bench/compare-builds.js --build before=/work/main --build after=/tmp/copy \
 *        [--kind broker] [--rounds 5] [--connections 50] [--warmup 2] [--duration 8]
 *
 * Reports req/s and, less disturbed by other load on the machine, the server's CPU time
 * per request. `--build NAME=ROOT#fastify` (or #node-http) runs that build's baseline instead.
 *
 * With --startup, compares instead each build's `serve` (its bin: dist/src/cli/bin.cjs, or main.js) from spawn
 * to the first 200, against one local stack with 60 ms per Cognito round trip
 * (--upstream-delay MS), --rounds runs each, alternating.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChildGroup, stopChild } from '../testkit/children.js';
import { startChild } from './support/children.js';
import { CpuMonitor, loadAverage } from './support/machine.js';
import { startBrokerStack } from './support/broker-stack.js';
import { runLoad } from './support/load.js';
import { runStartup } from './stack-benchmarks.js';
import { median } from './support/stats.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      build: { type: 'string', multiple: true },
      kind: { type: 'string', default: 'broker' },
      rounds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      duration: { type: 'string', default: '8' },
      startup: { type: 'boolean', default: false },
      'upstream-delay': { type: 'string', default: '60' },
    },
    strict: true,
  });
  const builds = (values.build ?? []).map((b) => {
    const [name, spec] = b.includes('=') ? [b.slice(0, b.indexOf('=')), b.slice(b.indexOf('=') + 1)] : [b, b];
    const [root, kind] = spec.split('#') as [string, string | undefined];
    return { name, root, kind: kind ?? (values.kind as string), server: join(root, 'dist', 'bench', 'servers', 'target-server.js') };
  });
  if (builds.length < 2) throw new Error('give at least two --build NAME=REPO_ROOT');
  if (values.startup) return compareStartup(builds, Number(values.rounds), Number(values['upstream-delay']));
  const token = randomBytes(32).toString('hex');
  const expiresAt = Date.now() + 2 * 3_600_000;
  const results = new Map<string, { rps: number[]; cpuUs: number[]; p99: number[] }>(builds.map((b) => [b.name, { rps: [], cpuUs: [], p99: [] }]));
  console.log(`load average ${loadAverage().join(' ')}`);
  for (let round = 1; round <= Number(values.rounds); round += 1) {
    const order = round % 2 === 1 ? builds : [...builds].reverse();
    for (const build of order) {
      const group = new ChildGroup();
      try {
        const server = await startChild(group, process.execPath, [build.server, '--kind', build.kind, '--expires-at', String(expiresAt)], {
          env: { ...process.env, BENCH_TOKEN: token, NODE_ENV: 'production' },
          cpu: 0,
          readyPrefix: 'READY ',
        });
        const url = `${(JSON.parse(server.readyLine) as { url: string }).url}/credentials`;
        const connections = Number(values.connections);
        await runLoad({ url, token, connections, durationS: Number(values.warmup), cpu: 1 });
        const monitor = new CpuMonitor(() => [server.pid]);
        const load = await runLoad({ url, token, connections, durationS: Number(values.duration), cpu: 1 });
        monitor.stop();
        const cpuUs = (monitor.usedMs(server.pid) * 1000) / load.requests;
        const r = results.get(build.name);
        r?.rps.push(load.rps);
        r?.cpuUs.push(cpuUs);
        r?.p99.push(load.p99Ms);
        console.log(`round ${round} ${build.name}: ${Math.round(load.rps)} req/s, p99 ${load.p99Ms} ms, ${cpuUs.toFixed(1)} µs CPU/request${load.non2xx + load.errors > 0 ? `, ${load.non2xx + load.errors} FAILED` : ''}`);
        await stopChild(server.child);
      } finally {
        await group.stopAll();
      }
    }
  }
  console.log('\n| Build | req/s (median) | p99 (median) | CPU per request (median) |\n|---|---:|---:|---:|');
  for (const [name, r] of results) console.log(`| ${name} | ${Math.round(median(r.rps))} | ${median(r.p99).toFixed(2)} ms | ${median(r.cpuUs).toFixed(1)} µs |`);
  console.log(`load average ${loadAverage().join(' ')}`);
}

async function compareStartup(builds: { name: string; root: string }[], rounds: number, delayMs: number): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const bs = await startBrokerStack();
  const times = new Map<string, number[]>(builds.map((b) => [b.name, []]));
  try {
    await bs.login();
    console.log(`load average ${loadAverage().join(' ')}`);
    for (let round = 1; round <= rounds; round += 1) {
      for (const build of round % 2 === 1 ? builds : [...builds].reverse()) {
        const r = await runStartup(bs, 1, delayMs, cliOf(build.root));
        times.get(build.name)?.push(r.first200Ms[0] as number);
        console.log(`round ${round} ${build.name}: first 200 after ${(r.first200Ms[0] as number).toFixed(0)} ms`);
      }
    }
  } finally {
    await bs.stop();
  }
  console.log(`\n| Build | spawn → first 200 (median, ${delayMs} ms per Cognito round trip) |\n|---|---:|`);
  for (const [name, t] of times) console.log(`| ${name} | ${median(t).toFixed(0)} ms |`);
  console.log(`load average ${loadAverage().join(' ')}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

/** A build's bin: dist/src/cli/bin.cjs, or main.js in builds from before the bin was bundled. */
function cliOf(root: string): string {
  const bin = join(root, 'dist', 'src', 'cli', 'bin.cjs');
  return existsSync(bin) ? bin : join(root, 'dist', 'src', 'cli', 'main.js');
}
