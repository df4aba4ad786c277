/**
 * The soak (issue 3): a real `cognito-broker serve` (compiled CLI, private Secret Service,
 * the local Cognito stack with 60-second ID tokens and credentials) driven at a steady
 * rate for a long time, every response checked.
 *
 *   node dist/bench/soak.js [--duration S] [--rate N] [--connections N] [--warmup S]
 *                           [--lifetime S] [--upstream-delay MS] [--out FILE]
 *
 * Passes when: no request failed (status, body, content type, network), no credential or
 * ID token was expired when it arrived (Expiration > now at receipt), the rate held at
 * least 1,000 requests/s in every 10-second window, and the RSS of `serve` (VmRSS, sampled
 * every second) grew less than 10% from just after the warm-up to the end (medians of
 * 30-second windows). Exits 1 when any of these fails.
 */
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { httpGet } from '../testkit/http.js';
import { startBrokerStack, type BrokerStack, type ServeProcess } from './support/broker-stack.js';
import { loadAverage, machineInfo, processMemory, sourceVersion } from './support/machine.js';
import { loadGenerator } from './support/load.js';
import { mb, median, sleep, thousands } from './support/stats.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const SOAK_TARGETS = { minRps: 1000, maxRssGrowth: 0.1 } as const;
const WINDOW_S = 10;
const RSS_WINDOW_S = 30;

interface SoakOptions {
  durationS: number;
  rate: number;
  connections: number;
  warmupS: number;
  lifetimeS: number;
  upstreamDelayMs: number;
  tokenShare: number;
}

interface Counters {
  sent: number;
  ok: number;
  failed: number;
  expired: number;
  failures: string[];
  minCredentialsLeftMs: number;
  minTokenLeftMs: number;
  credentialSets: Set<string>;
  tokenExpirations: Set<string>;
  perSecond: number[];
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '600' },
      rate: { type: 'string', default: '1500' },
      connections: { type: 'string', default: '8' },
      warmup: { type: 'string' },
      lifetime: { type: 'string', default: '60' },
      'upstream-delay': { type: 'string', default: '60' },
      'token-share': { type: 'string', default: '0.1' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const durationS = Number(values.duration);
  const options: SoakOptions = {
    durationS,
    rate: Number(values.rate),
    connections: Number(values.connections),
    warmupS: values.warmup === undefined ? Math.min(60, Math.round(durationS / 4)) : Number(values.warmup),
    lifetimeS: Number(values.lifetime),
    upstreamDelayMs: Number(values['upstream-delay']),
    tokenShare: Number(values['token-share']),
  };
  log(`soak: ${JSON.stringify(options)}`);
  const loadBefore = loadAverage();
  const bs: BrokerStack = await startBrokerStack({
    idTokenLifetimeSeconds: options.lifetimeS,
    credentialLifetimeSeconds: options.lifetimeS,
    upstreamDelayMs: options.upstreamDelayMs,
  });
  let serve: ServeProcess | undefined;
  const interrupted = async () => {
    await serve?.stop();
    await bs.stop();
    process.exit(130);
  };
  process.once('SIGINT', () => void interrupted());
  process.once('SIGTERM', () => void interrupted());
  try {
    await bs.login();
    bs.resetUpstreamCalls();
    const emulatorBefore = { ...bs.stack.emulator.calls };
    serve = await bs.serve();
    const logLevels = countLogLevels(serve);
    const startedAt = new Date().toISOString();
    const rss: { t: number; rss: number }[] = [];
    const t0 = performance.now();
    const sampler = setInterval(() => {
      try {
        rss.push({ t: (performance.now() - t0) / 1000, rss: processMemory((serve as ServeProcess).pid).rss });
      } catch {
        // serve is gone: the requests will say so
      }
    }, 1000);
    const counters = await drive(serve, options, (line) => log(line));
    clearInterval(sampler);
    const exitCode = await serve.stop();
    const emulatorAfter = bs.stack.emulator.calls;
    const result = verdict(options, counters, rss, {
      startedAt,
      loadBefore,
      loadAfter: loadAverage(),
      exitCode,
      upstreamCalls: bs.upstreamCalls(),
      emulatorCalls: {
        GetId: emulatorAfter.GetId - emulatorBefore.GetId,
        GetCredentialsForIdentity: emulatorAfter.GetCredentialsForIdentity - emulatorBefore.GetCredentialsForIdentity,
      },
      serveLog: logLevels(),
    });
    process.stdout.write(`${result.markdown}\n`);
    if (values.out) writeFileSync(values.out, `${JSON.stringify(result.json, null, 2)}\n`);
    return result.pass ? 0 : 1;
  } finally {
    await serve?.stop();
    await bs.stop();
  }
}

/** Paced requests on `connections` keep-alive connections; every response checked. */
async function drive(serve: ServeProcess, o: SoakOptions, progress: (line: string) => void): Promise<Counters> {
  const c: Counters = {
    sent: 0,
    ok: 0,
    failed: 0,
    expired: 0,
    failures: [],
    minCredentialsLeftMs: Infinity,
    minTokenLeftMs: Infinity,
    credentialSets: new Set(),
    tokenExpirations: new Set(),
    perSecond: [],
  };
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const credentialsUrl = serve.credentialsUrl;
  const tokenUrl = credentialsUrl.replace(/\/credentials$/, '/token');
  const t0 = performance.now();
  const end = t0 + o.durationS * 1000;
  const intervalMs = 1000 / o.rate;
  let next = 0;
  const fail = (why: string) => {
    c.failed += 1;
    if (c.failures.length < 10) c.failures.push(`${new Date().toISOString()} ${why}`);
  };
  const worker = async () => {
    for (;;) {
      const i = next++;
      const due = t0 + i * intervalMs;
      if (due >= end) return;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const isToken = (i % 1000) / 1000 < o.tokenShare;
      c.sent += 1;
      try {
        const { status, type, body } = await httpGet(isToken ? tokenUrl : credentialsUrl, serve.token, { agent, timeoutMs: 5000 });
        const now = Date.now();
        const second = Math.floor((performance.now() - t0) / 1000);
        c.perSecond[second] = (c.perSecond[second] ?? 0) + 1;
        if (status !== 200) {
          fail(`${isToken ? '/token' : '/credentials'} ${status} ${body.slice(0, 200)}`);
          continue;
        }
        if (type !== 'application/json') fail(`Content-Type ${type}`);
        const json = JSON.parse(body) as Record<string, unknown>;
        const expiration = typeof json.Expiration === 'string' && json.Expiration.endsWith('Z') ? Date.parse(json.Expiration) : Number.NaN;
        const fields = isToken ? ['IdToken', 'AccessToken'] : ['AccessKeyId', 'SecretAccessKey', 'Token'];
        if (!fields.every((f) => typeof json[f] === 'string' && (json[f] as string).length > 0) || !Number.isFinite(expiration)) {
          fail(`incomplete body: ${Object.keys(json).join(',')}`);
          continue;
        }
        const left = expiration - now;
        if (left <= 0) {
          c.expired += 1;
          fail(`${isToken ? 'ID token' : 'credentials'} expired ${-left} ms before receipt`);
          continue;
        }
        if (isToken) {
          c.minTokenLeftMs = Math.min(c.minTokenLeftMs, left);
          c.tokenExpirations.add(json.Expiration as string);
        } else {
          c.minCredentialsLeftMs = Math.min(c.minCredentialsLeftMs, left);
          c.credentialSets.add(json.AccessKeyId as string);
        }
        c.ok += 1;
      } catch (error) {
        fail(`network: ${(error as Error).message}`);
      }
    }
  };
  const reporter = setInterval(() => {
    const elapsed = (performance.now() - t0) / 1000;
    progress(`  ${elapsed.toFixed(0)} s: ${thousands(c.ok)} ok, ${c.failed} failed, ${c.expired} expired, ${c.credentialSets.size} credential sets, serve RSS ${mb(safeRss(serve.pid))}`);
  }, 30_000);
  await Promise.all(Array.from({ length: o.connections }, worker));
  clearInterval(reporter);
  agent.destroy();
  return c;
}

function safeRss(pid: number): number {
  try {
    return processMemory(pid).rss;
  } catch {
    return Number.NaN;
  }
}

/** Counts serve's log lines by level (JSON lines on stderr). */
function countLogLevels(serve: ServeProcess): () => Record<string, number> {
  const counts: Record<string, number> = {};
  let partial = '';
  serve.child.stderr?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const level = /"level":(\d+)/.exec(line)?.[1];
      const name = ({ '10': 'trace', '20': 'debug', '30': 'info', '40': 'warn', '50': 'error', '60': 'fatal' } as Record<string, string>)[level ?? ''] ?? 'other';
      counts[name] = (counts[name] ?? 0) + 1;
    }
  });
  return () => ({ ...counts });
}

interface Extra {
  startedAt: string;
  loadBefore: number[];
  loadAfter: number[];
  exitCode: number | null;
  upstreamCalls: Record<string, number>;
  emulatorCalls: Record<string, number>;
  serveLog: Record<string, number>;
}

function verdict(o: SoakOptions, c: Counters, rss: { t: number; rss: number }[], x: Extra) {
  const seconds = c.perSecond.slice(0, o.durationS);
  const windows: number[] = [];
  for (let s = 0; s + WINDOW_S <= seconds.length; s += WINDOW_S) windows.push(seconds.slice(s, s + WINDOW_S).reduce((a, n) => a + (n ?? 0), 0) / WINDOW_S);
  const minWindowRps = Math.min(...windows);
  const span = Math.min(RSS_WINDOW_S, Math.max(5, (o.durationS - o.warmupS) / 4));
  const after = rss.filter((r) => r.t >= o.warmupS);
  const baseline = median(after.filter((r) => r.t < o.warmupS + span).map((r) => r.rss));
  const final = median(after.filter((r) => r.t >= o.durationS - span).map((r) => r.rss));
  const peakAfterWarmup = Math.max(...after.map((r) => r.rss));
  const growth = final / baseline - 1;
  const checks = {
    noFailures: c.failed === 0,
    noExpired: c.expired === 0,
    rate: minWindowRps >= SOAK_TARGETS.minRps,
    rss: growth < SOAK_TARGETS.maxRssGrowth,
    cleanExit: x.exitCode === 0,
  };
  const pass = Object.values(checks).every(Boolean);
  const m = machineInfo(loadGenerator());
  const json = {
    ...x,
    options: o,
    machine: m,
    requests: c.sent,
    ok: c.ok,
    failed: c.failed,
    expired: c.expired,
    failures: c.failures,
    achievedRps: c.ok / o.durationS,
    minWindowRps,
    minCredentialsLeftMs: c.minCredentialsLeftMs,
    minTokenLeftMs: c.minTokenLeftMs,
    credentialSets: c.credentialSets.size,
    idTokens: c.tokenExpirations.size,
    rss: { baselineBytes: baseline, finalBytes: final, growth, peakAfterWarmupBytes: peakAfterWarmup, windowS: span, samples: rss },
    checks,
    pass,
  };
  const yes = (ok: boolean) => (ok ? 'pass' : '**FAIL**');
  const markdown = [
    `## Soak of ${x.startedAt.slice(0, 16).replace('T', ' ')} UTC: ${pass ? 'pass' : '**FAIL**'}`,
    '',
    `- Command: \`node dist/bench/soak.js ${process.argv.slice(2).join(' ')}\``.replace(/ `$/, '`') + ` (source: ${sourceVersion()})`,
    `- Machine: ${m.nproc} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}; load average before ${x.loadBefore.join(' ')}, after ${x.loadAfter.join(' ')}`,
    `- ${o.durationS} s at ${thousands(o.rate)} requests/s on ${o.connections} keep-alive connections (${Math.round(o.tokenShare * 100)}% /token, the rest /credentials); ID tokens and credentials live ${o.lifetimeS} s; ${o.upstreamDelayMs} ms per Cognito round trip; warm-up ${o.warmupS} s`,
    '',
    '| Check | Result | |',
    '|---|---|---|',
    `| Requests answered 200 with a complete body | ${thousands(c.ok)} of ${thousands(c.sent)}; ${c.failed} failed | ${yes(checks.noFailures)} |`,
    `| Expired when received (Expiration ≤ now) | ${c.expired}; least time left: credentials ${(c.minCredentialsLeftMs / 1000).toFixed(1)} s, ID token ${(c.minTokenLeftMs / 1000).toFixed(1)} s | ${yes(checks.noExpired)} |`,
    `| Rate (≥ ${thousands(SOAK_TARGETS.minRps)}/s in every ${WINDOW_S}-s window) | ${thousands(c.ok / o.durationS)}/s overall, lowest window ${thousands(minWindowRps)}/s | ${yes(checks.rate)} |`,
    `| RSS growth after warm-up (< ${SOAK_TARGETS.maxRssGrowth * 100}%, medians of ${span}-s windows) | ${mb(baseline)} → ${mb(final)} (${(growth * 100).toFixed(1)}%); peak after warm-up ${mb(peakAfterWarmup)} | ${yes(checks.rss)} |`,
    `| serve stopped cleanly on SIGTERM | exit ${x.exitCode} | ${yes(checks.cleanExit)} |`,
    '',
    `Renewals seen: ${c.credentialSets.size} credential sets, ${c.tokenExpirations.size} ID tokens. Upstream calls (proxies): ${Object.entries(x.upstreamCalls).map(([k, v]) => `${k} ${v}`).join(', ')}; emulator: GetId ${x.emulatorCalls.GetId}, GetCredentialsForIdentity ${x.emulatorCalls.GetCredentialsForIdentity}. serve's log lines: ${Object.entries(x.serveLog).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    ...(c.failures.length > 0 ? ['', 'First failures:', ...c.failures.map((f) => `- ${f}`)] : []),
  ].join('\n');
  return { markdown, json, pass };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
