/**
 * The Markdown report of a benchmark run: the tables BENCHMARKS.md quotes, each number a
 * median of several runs with the runs beside it, each target marked met or missed.
 */
import type { ThroughputResult } from './endpoint-throughput.js';
import type { BurstResult, MemoryResult, NewProcessResult, StartupResult } from './stack-benchmarks.js';
import type { MachineInfo } from './support/machine.js';
import { mb, ms, ratio, thousands } from './support/stats.js';
import type { EconomyResult } from './upstream-economy.js';
import { PROMPT_VS_NODE_TARGET, type PromptSpawnResult } from './prompt-spawn.js';

export interface BenchResults {
  date: string;
  command: string;
  machine: MachineInfo;
  source: string;
  loadBefore: [number, number, number];
  loadAfter?: [number, number, number];
  loadAtStart: Record<string, [number, number, number]>;
  waitedForQuietMs: number;
  options: Record<string, number>;
  sections: {
    throughput?: ThroughputResult;
    economy?: EconomyResult;
    burst?: BurstResult;
    newProcess?: NewProcessResult;
    startup?: { withDelay: StartupResult; noDelay: StartupResult; cold?: StartupResult };
    memory?: MemoryResult;
    prompt?: PromptSpawnResult;
  };
}

export const TARGETS = {
  vsFastify: 0.9,
  vsNodeHttp: 0.75,
  p99At50Ms: 2,
  /** Spawn → first 200 with 60 ms Cognito round trips (issue 15: light enough to leave running). */
  startupMs: 300,
  idleRssBytes: 60 * 1024 * 1024,
  peakRssBytes: 90 * 1024 * 1024,
} as const;

const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
const list = (values: readonly number[], fmt: (v: number) => string) => values.map(fmt).join(', ');
const load = (l: readonly number[] | undefined) => (l ? l.map((v) => v.toFixed(2)).join(' ') : 'n/a');

export function renderReport(r: BenchResults): { markdown: string; failures: string[] } {
  const out: string[] = [];
  const failures: string[] = [];
  const m = r.machine;
  out.push(`## Run of ${r.date.slice(0, 16).replace('T', ' ')} UTC`, '');
  out.push(`- Command: \`${r.command}\` (source: ${r.source})`);
  out.push(`- Machine: ${m.nproc} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}`);
  out.push(`- Load generator: ${m.loadGenerator}${m.pinned ? '; server under test pinned to core 0, load generator to core 1 (taskset)' : '; not pinned (no taskset or fewer than 2 cores)'}`);
  out.push(`- Load average before: ${load(r.loadBefore)}${r.waitedForQuietMs > 0 ? ` (after waiting ${Math.round(r.waitedForQuietMs / 60_000)} min for a quieter machine)` : ''}; after: ${load(r.loadAfter)}`);
  out.push('');

  const t = r.sections.throughput;
  if (t) {
    out.push(`### 1. GET /credentials throughput and latency`, '');
    out.push(
      `${r.options.rounds} rounds × (${r.options.warmupS} s warm-up + ${r.options.durationS} s measured) per server and connection count, order rotated each round; ` +
        `every server answers the same ${t.bodyBytes}-byte JSON after the same token check. Medians; the per-round values follow. ` +
        `"Others' CPU" is the share of the machine other processes used while it was measured.`,
      '',
    );
    out.push('| Server | Connections | req/s | p50 | p99 | CPU per request | req/s per round | Others\' CPU per round |', '|---|---:|---:|---:|---:|---:|---|---|');
    for (const s of t.summary) {
      out.push(
        `| ${s.kind} | ${s.connections} | ${thousands(s.rps)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${s.cpuUsPerRequest.toFixed(1)} µs | ${list(s.rounds.map((x) => x.rps), thousands)} | ${list(s.rounds.map((x) => x.othersCpu * 100), (v) => `${v.toFixed(0)}%`)} |`,
      );
    }
    out.push(
      '',
      'Ratios of req/s (medians of the per-round ratios), and the same comparison by CPU cost (baseline µs per request ÷ broker µs per request), which other load on the machine disturbs less:',
      '',
      '| Connections | broker ÷ fastify (target ≥ 0.9) | broker ÷ node:http (target ≥ 0.75) | broker p99 | per-round ÷ fastify | per-round ÷ node:http | by CPU cost: ÷ fastify, ÷ node:http |',
      '|---:|---:|---:|---:|---|---|---|',
    );
    for (const x of t.ratios) {
      const broker = t.summary.find((s) => s.kind === 'broker' && s.connections === x.connections);
      const p99 = broker?.p99Ms ?? Number.NaN;
      const p99Note = x.connections === 50 ? ` (saturated; see the open-loop run below)` : '';
      out.push(
        `| ${x.connections} | ${ratio(x.vsFastify)} ${mark(x.vsFastify >= TARGETS.vsFastify)} | ${ratio(x.vsNodeHttp)} ${mark(x.vsNodeHttp >= TARGETS.vsNodeHttp)} | ${ms(p99)}${p99Note} | ${list(x.perRound.map((p) => p.vsFastify), ratio)} | ${list(x.perRound.map((p) => p.vsNodeHttp), ratio)} | ${ratio(x.cpuVsFastify)}, ${ratio(x.cpuVsNodeHttp)} |`,
      );
    }
    out.push('');
    if (t.pacedSummary.length > 0) {
      const rate = t.pacedSummary[0]?.rate ?? 0;
      out.push(
        `At 50 connections wrk keeps every connection busy, so the server is saturated and latency is queueing: by Little's law the mean is 50 ÷ req/s (50 ÷ 20,000/s = 2.5 ms), whatever the server. ` +
          `The latency 50 concurrent clients see short of saturation comes from an open-loop run: ${thousands(rate)} requests/s offered over 50 connections, each latency counted from when its request was due (medians of the rounds):`,
        '',
        `| Server | p50 | p99 | max | p99 per round | Target p99 < ${TARGETS.p99At50Ms} ms (broker) |`,
        '|---|---:|---:|---:|---|---|',
      );
      for (const p of t.pacedSummary) {
        const rounds = t.paced.filter((x) => x.kind === p.kind).map((x) => x.p99Ms);
        out.push(`| ${p.kind} | ${ms(p.p50Ms)} | ${ms(p.p99Ms)} | ${ms(p.maxMs)} | ${list(rounds, ms)} | ${p.kind === 'broker' ? mark(p.p99Ms < TARGETS.p99At50Ms) : ''} |`);
      }
      out.push('');
    }
  }

  if (t && t.problems.length > 0) {
    out.push('Failed requests (none expected):', '', ...t.problems.map((p) => `- ${p}`), '');
    failures.push(...t.problems.map((p) => `throughput: ${p}`));
  }

  const e = r.sections.economy;
  if (e) {
    out.push(`### 2. Upstream economy (manual clock, ${e.hours} simulated hours, 1-hour ID tokens and credentials)`, '');
    out.push('| Load | Requests | Real req/s | Requests per simulated s | Calls per simulated hour (refresh / GetId / GetCredentialsForIdentity) | Failed requests |', '|---|---:|---:|---:|---|---:|');
    for (const s of [e.steady, e.max]) {
      out.push(
        `| ${s.mode === 'steady' ? '1 request per simulated second' : 'as fast as the machine goes (50 connections)'} | ${thousands(s.requests)} | ${thousands(s.realRps)} | ${s.simulatedRps.toFixed(1)} | ${s.perHour.map((h, i) => `h${i + 1}: ${h.refresh} / ${h.getId} / ${h.getCredentials}`).join('; ')} | ${s.failures} |`,
      );
    }
    out.push(
      '',
      `Expected over ${e.hours} h, one call per renewal window of the broker's policy (ID token renewed every ${e.windowsMinutes.idToken} min, credentials every ${e.windowsMinutes.credentials} min; hour 1 includes start-up): ${e.expected.refresh} refreshes, ${e.expected.getId} GetId, ${e.expected.getCredentials} GetCredentialsForIdentity. ` +
        `Counts equal at both rates: **${e.equal ? 'yes' : 'NO'}**; as expected: **${e.asExpected ? 'yes' : 'NO'}**.`,
      '',
    );
    if (!e.equal || !e.asExpected) failures.push('upstream economy: call counts differ between rates or from one per window');
  }

  const b = r.sections.burst;
  if (b) {
    const calls = (op: string) => b.upstreamCalls[op] ?? 0;
    const one = calls('InitiateAuth') === 1 && calls('GetId') === 1 && calls('GetCredentialsForIdentity') === 1;
    out.push(`### 2b. A burst of ${thousands(b.requests)} concurrent first requests at start`, '');
    out.push(
      `A fresh \`serve\` (real keychain, real SDK clients, ${b.upstreamDelayMs} ms per Cognito round trip); as soon as it listens, ${thousands(b.requests)} requests at once, one connection each.`,
      '',
      '| InitiateAuth | GetId | GetCredentialsForIdentity | Emulator\'s own counters (GetId / GetCredentialsForIdentity) | Answers | Slowest answer |',
      '|---:|---:|---:|---|---|---:|',
      `| ${calls('InitiateAuth')} | ${calls('GetId')} | ${calls('GetCredentialsForIdentity')} | ${b.emulatorCalls.GetId} / ${b.emulatorCalls.GetCredentialsForIdentity} | ${Object.entries(b.statuses).map(([s, n]) => `${thousands(n)} × ${s}`).join(', ')} | ${ms(b.slowestMs)} |`,
      '',
      `One call of each: **${one ? 'yes' : 'NO'}**.`,
      '',
    );
    if (!one) failures.push(`burst: upstream calls ${JSON.stringify(b.upstreamCalls)}, expected one of each`);
  }

  const n = r.sections.newProcess;
  if (n) {
    out.push(`### 3. Time to credentials for a new process (${n.upstreamDelayMs} ms per Cognito round trip)`, '');
    out.push('| A fresh `node` process that … | Median | Runs |', '|---|---:|---|');
    out.push(`| asks the broker (JS SDK default chain, \`AWS_CONTAINER_CREDENTIALS_FULL_URI\`) | ${ms(n.medians.viaBroker)} | ${list(n.viaBrokerMs, ms)} |`);
    out.push(
      `| refreshes and exchanges itself (InitiateAuth REFRESH_TOKEN_AUTH + GetId + GetCredentialsForIdentity: ${Object.entries(n.directUpstreamCallsPerRun).map(([op, c]) => `${c} ${op}`).join(', ')} per run) | ${ms(n.medians.direct)} | ${list(n.directMs, ms)} |`,
    );
    out.push(`| does nothing (the floor: node's own start) | ${ms(n.medians.nodeFloor)} | ${list(n.nodeFloorMs, ms)} |`);
    out.push('', `Ratio, doing it itself ÷ via the broker: **${ratio(n.ratio)}** (above the floor: ${ratio((n.medians.direct - n.medians.nodeFloor) / (n.medians.viaBroker - n.medians.nodeFloor))}).`, '');
  }

  const s = r.sections.startup;
  const mem = r.sections.memory;
  if (s || mem) out.push('### 4. Start-up and memory of `serve`', '');
  if (s) {
    out.push('Spawning the compiled CLI\'s `serve` (refresh token in the keychain) → the first 200 on /credentials, polled every 2 ms from the moment of spawn.', '');
    out.push(`| Cognito round trip | First answer of any kind (median) | First 200 (median) | First 200, each run | Target ≤ ${TARGETS.startupMs} ms at 60 ms |`, '|---:|---:|---:|---|---|');
    for (const x of [s.withDelay, s.noDelay]) {
      out.push(`| ${x.upstreamDelayMs} ms | ${ms(x.medians.listening)} | ${ms(x.medians.first200)} | ${list(x.first200Ms, ms)} | ${x.upstreamDelayMs > 0 ? mark(x.medians.first200 <= TARGETS.startupMs) : ''} |`);
    }
    // The first start after an install or upgrade, before the compile cache exists.
    if (s.cold) out.push(`| ${s.cold.upstreamDelayMs} ms, no compile cache | ${ms(s.cold.medians.listening)} | ${ms(s.cold.medians.first200)} | ${list(s.cold.first200Ms, ms)} | |`);
    out.push('');
  }
  if (mem) {
    out.push(`RSS of \`serve\` (VmRSS from /proc), idle and after ${thousands(mem.requests)} requests (${thousands(mem.rps)} req/s, 50 connections, ${mem.failures} failed):`, '');
    out.push(`| Idle, 5 s | Idle, 30 s | Right after the load | 10 s later | Peak (VmHWM) | Targets: idle (5 s) ≤ ${mb(TARGETS.idleRssBytes)}, peak ≤ ${mb(TARGETS.peakRssBytes)} |`, '|---:|---:|---:|---:|---:|---|');
    out.push(`| ${mb(mem.idleRssBytes)} | ${mem.idleLaterRssBytes === undefined ? '' : mb(mem.idleLaterRssBytes)} | ${mb(mem.afterLoadRssBytes)} | ${mb(mem.settledRssBytes)} | ${mb(mem.peakRssBytes)} | idle ${mark(mem.idleRssBytes <= TARGETS.idleRssBytes)}, peak ${mark(mem.peakRssBytes <= TARGETS.peakRssBytes)} |`, '');
    if (mem.failures > 0) failures.push(`memory: ${mem.failures} failed requests under load`);
  }
  const p = r.sections.prompt;
  if (p) {
    out.push('### 5. Commands other tools run often: `status --prompt`, `token`, `credential-process`', '');
    out.push(`Spawn → exit of the compiled CLI with \`serve\` running (\`status --prompt\` printed \`${p.line}\`), each against a bare \`node -e 0\` started alternately with it, ${p.runs} runs each after an untimed one.`, '');
    out.push(`| Command | Median | node -e 0 (median) | Ratio | Target ≤ ${PROMPT_VS_NODE_TARGET}× |`, '|---|---:|---:|---:|---|');
    for (const c of p.commands) {
      out.push(`| \`${c.command}\` | ${ms(c.medians.command)} | ${ms(c.medians.node)} | ${ratio(c.ratio)} | ${mark(c.ratio <= PROMPT_VS_NODE_TARGET)} |`);
    }
    out.push('');
  }

  out.push(`Load average at the start of each section: ${Object.entries(r.loadAtStart).map(([k, v]) => `${k} ${load(v)}`).join('; ')}.`);
  return { markdown: out.join('\n'), failures };
}
