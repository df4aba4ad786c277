/**
 * 1. Endpoint throughput and latency: GET /credentials with a valid token, at each
 * connection count, against the broker's real app and two baselines serving the same
 * bytes with the same token check. The server runs on core 0, the load generator on core
 * 1; every server gets the same warm-up and duration, in several rounds whose order
 * rotates, and the report quotes medians.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SERVER_KINDS, type ServerKind } from './servers/server-kinds.js';
import { ChildGroup, stopChild } from '../testkit/children.js';
import { startChild } from './support/children.js';
import { CpuMonitor } from './support/machine.js';
import { runLoad, runPacedLoad, type LoadResult, type PacedResult } from './support/load.js';
import { median } from './support/stats.js';

const TARGET_SERVER = fileURLToPath(new URL('./servers/target-server.js', import.meta.url));
export const SERVER_CPU = 0;
export const LOAD_CPU = 1;

export interface ThroughputOptions {
  readonly rounds: number;
  readonly warmupS: number;
  readonly durationS: number;
  readonly connections: readonly number[];
  /** Offered rate of the paced (open-loop) latency run at 50 connections; 0 skips it. */
  readonly pacedRate: number;
  /** Extra node flags for the broker's process (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  readonly brokerNodeFlags?: readonly string[];
  readonly log: (line: string) => void;
}

export interface ThroughputSample extends LoadResult {
  readonly kind: ServerKind;
  readonly round: number;
  /** Share of the machine's CPU used by other processes during the measurement. */
  readonly othersCpu: number;
  /**
   * CPU time (user + system) the server used per request, in µs: what a request costs,
   * which other processes on the machine disturb far less than they disturb req/s.
   */
  readonly cpuUsPerRequest: number;
}

export interface ThroughputSummary {
  readonly kind: ServerKind;
  readonly connections: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerRequest: number;
  readonly rounds: readonly ThroughputSample[];
}

/** Latency at a fixed offered rate (open loop), one per server and round. */
export interface PacedSample extends PacedResult {
  readonly kind: ServerKind;
  readonly round: number;
  readonly othersCpu: number;
}

export interface ThroughputResult {
  readonly samples: readonly ThroughputSample[];
  readonly paced: readonly PacedSample[];
  /** Medians per server of the paced runs. */
  readonly pacedSummary: readonly { kind: ServerKind; rate: number; p50Ms: number; p99Ms: number; maxMs: number }[];
  readonly summary: readonly ThroughputSummary[];
  /** Per connection count: broker rps / baseline rps, medians of the per-round ratios. */
  readonly ratios: readonly {
    connections: number;
    vsFastify: number;
    vsNodeHttp: number;
    perRound: { vsFastify: number; vsNodeHttp: number }[];
    /** Baseline CPU per request ÷ broker CPU per request (1 = as cheap; medians of per-round ratios). */
    cpuVsFastify: number;
    cpuVsNodeHttp: number;
  }[];
  readonly bodyBytes: number;
  /** Failed requests (none expected). */
  readonly problems: readonly string[];
}

export async function runThroughput(options: ThroughputOptions): Promise<ThroughputResult> {
  const token = randomBytes(32).toString('hex');
  const expiresAt = Date.now() + 2 * 3_600_000;
  const samples: ThroughputSample[] = [];
  const paced: PacedSample[] = [];
  const problems: string[] = [];
  let bodyBytes = 0;
  for (let round = 1; round <= options.rounds; round += 1) {
    // Rotate the order so no server always runs first (or last, on a warmer machine).
    const kinds = SERVER_KINDS.map((_, i) => SERVER_KINDS[(i + round - 1) % SERVER_KINDS.length] as ServerKind);
    for (const kind of kinds) {
      const group = new ChildGroup();
      try {
        const nodeFlags = kind === 'broker' ? (options.brokerNodeFlags ?? []) : [];
        const server = await startChild(group, process.execPath, [...nodeFlags, TARGET_SERVER, '--kind', kind, '--expires-at', String(expiresAt)], {
          env: { ...process.env, BENCH_TOKEN: token, NODE_ENV: 'production' },
          cpu: SERVER_CPU,
          readyPrefix: 'READY ',
        });
        const { url } = JSON.parse(server.readyLine) as { url: string };
        bodyBytes = await checkServer(kind, `${url}/credentials`, token, expiresAt, bodyBytes);
        for (const connections of options.connections) {
          await runLoad({ url: `${url}/credentials`, token, connections, durationS: options.warmupS, cpu: LOAD_CPU });
          let loadPid: number | undefined;
          const monitor = new CpuMonitor(() => [server.pid, process.pid, ...(loadPid ? [loadPid] : [])]);
          const result = await runLoad({ url: `${url}/credentials`, token, connections, durationS: options.durationS, cpu: LOAD_CPU, onPid: (pid) => (loadPid = pid) });
          const { others } = monitor.stop();
          const cpuUsPerRequest = (monitor.usedMs(server.pid) * 1000) / result.requests;
          if (result.non2xx > 0 || result.errors > 0) problems.push(`${kind}, round ${round}, ${connections} connections: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
          samples.push({ ...result, kind, round, othersCpu: others, cpuUsPerRequest });
          options.log(
            `  round ${round} ${kind.padEnd(9)} c=${String(connections).padStart(2)}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ` +
              `${cpuUsPerRequest.toFixed(1)} µs CPU/request (others' CPU ${(others * 100).toFixed(0)}%)`,
          );
        }
        if (options.pacedRate > 0) {
          const connections = 50;
          let loadPid: number | undefined;
          const monitor = new CpuMonitor(() => [server.pid, process.pid, ...(loadPid ? [loadPid] : [])]);
          const result = await runPacedLoad({ url: `${url}/credentials`, token, connections, rate: options.pacedRate, durationS: options.durationS, cpu: LOAD_CPU, onPid: (pid) => (loadPid = pid) });
          const { others } = monitor.stop();
          if (result.non2xx > 0 || result.errors > 0) problems.push(`${kind}, round ${round}, paced: ${result.non2xx} non-2xx answers, ${result.errors} errors or unanswered`);
          paced.push({ ...result, kind, round, othersCpu: others });
          options.log(`  round ${round} ${kind.padEnd(9)} paced ${options.pacedRate}/s c=50: p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms, max ${result.maxMs.toFixed(1)} ms (others' CPU ${(others * 100).toFixed(0)}%)`);
        }
        await stopChild(server.child);
      } finally {
        await group.stopAll();
      }
    }
  }
  const pacedSummary = SERVER_KINDS.filter((kind) => paced.some((p) => p.kind === kind)).map((kind) => {
    const runs = paced.filter((p) => p.kind === kind);
    return { kind, rate: options.pacedRate, p50Ms: median(runs.map((p) => p.p50Ms)), p99Ms: median(runs.map((p) => p.p99Ms)), maxMs: median(runs.map((p) => p.maxMs)) };
  });
  return { ...summarize(samples, options.connections, bodyBytes), paced, pacedSummary, problems };
}

/** Same body from every server (Expiration included), and the token check in place. */
async function checkServer(kind: ServerKind, url: string, token: string, expiresAt: number, expectedBytes: number): Promise<number> {
  const ok = await fetch(url, { headers: { authorization: token } });
  const body = await ok.text();
  const parsed = JSON.parse(body) as Record<string, string>;
  if (ok.status !== 200 || parsed.Expiration !== new Date(expiresAt).toISOString()) throw new Error(`${kind} served ${ok.status} ${body.slice(0, 200)}`);
  if (expectedBytes !== 0 && Buffer.byteLength(body) !== expectedBytes) throw new Error(`${kind} served ${Buffer.byteLength(body)} bytes, the others ${expectedBytes}`);
  const refused = await fetch(url, { headers: { authorization: `${token}x` } });
  await refused.arrayBuffer();
  if (refused.status !== 401) throw new Error(`${kind} answered ${refused.status} to a wrong token`);
  return Buffer.byteLength(body);
}

function summarize(samples: readonly ThroughputSample[], connectionCounts: readonly number[], bodyBytes: number): Omit<ThroughputResult, 'paced' | 'pacedSummary' | 'problems'> {
  const summary: ThroughputSummary[] = [];
  for (const connections of connectionCounts) {
    for (const kind of SERVER_KINDS) {
      const rounds = samples.filter((s) => s.kind === kind && s.connections === connections);
      summary.push({
        kind,
        connections,
        rps: median(rounds.map((s) => s.rps)),
        p50Ms: median(rounds.map((s) => s.p50Ms)),
        p99Ms: median(rounds.map((s) => s.p99Ms)),
        cpuUsPerRequest: median(rounds.map((s) => s.cpuUsPerRequest)),
        rounds,
      });
    }
  }
  const ratios = connectionCounts.map((connections) => {
    const rounds = [...new Set(samples.map((s) => s.round))];
    const pick = (round: number, kind: ServerKind) => samples.find((s) => s.round === round && s.kind === kind && s.connections === connections);
    const perRound = rounds.map((round) => {
      const rps = (kind: ServerKind) => pick(round, kind)?.rps ?? Number.NaN;
      return { vsFastify: rps('broker') / rps('fastify'), vsNodeHttp: rps('broker') / rps('node-http') };
    });
    const cpu = (round: number, kind: ServerKind) => pick(round, kind)?.cpuUsPerRequest ?? Number.NaN;
    return {
      connections,
      vsFastify: median(perRound.map((r) => r.vsFastify)),
      vsNodeHttp: median(perRound.map((r) => r.vsNodeHttp)),
      perRound,
      cpuVsFastify: median(rounds.map((r) => cpu(r, 'fastify') / cpu(r, 'broker'))),
      cpuVsNodeHttp: median(rounds.map((r) => cpu(r, 'node-http') / cpu(r, 'broker'))),
    };
  });
  return { samples, summary, ratios, bodyBytes };
}
