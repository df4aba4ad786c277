/**
 * 2. Upstream economy, one scenario, in a process of its own (the runner pins it to core 0):
 * the broker's real app on a manual clock, Cognito in memory counting its calls, through
 * a number of simulated hours.
 *
 *   node dist/bench/economy-worker.js --mode steady|max --hours H [--real-seconds S]
 *
 *   steady  one request per simulated second, each checked (200, Expiration after the
 *           simulated now), the clock moved one second after each
 *   max     wrk (or autocannon) on core 1 as fast as the machine goes, for S real seconds,
 *           while the clock sweeps the H simulated hours
 *
 * Prints `RESULT {json}`: calls per simulated hour, requests, rates.
 */
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { runLoad, type LoadResult } from './support/load.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { httpGet } from '../testkit/http.js';
import { MemoryCognito } from '../testkit/memory-cognito.js';
import { BENCH_IDENTITY_ID, benchCredentials } from './support/bench-credentials.js';
import { startMemoryDaemon, waitUntilReady } from './support/memory-daemon.js';
import { sleep } from './support/stats.js';

const HOUR_MS = 3_600_000;
const LOAD_CPU = 1;
const TICK_MS = 1_000;

export interface EconomyScenarioResult {
  readonly mode: 'steady' | 'max';
  readonly hours: number;
  /** Upstream calls in each simulated hour (the first includes start-up). */
  readonly perHour: { refresh: number; getId: number; getCredentials: number }[];
  readonly requests: number;
  /** Requests that did not get a 200 with unexpired credentials. */
  readonly failures: number;
  readonly realSeconds: number;
  /** Requests per real second while it ran. */
  readonly realRps: number;
  /** Requests per simulated second. */
  readonly simulatedRps: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mode: { type: 'string' }, hours: { type: 'string' }, 'real-seconds': { type: 'string' } }, strict: true });
  const mode = values.mode === 'max' ? 'max' : 'steady';
  const hours = Number(values.hours ?? 3);
  const clock = new FakeClock();
  const upstream = new MemoryCognito({
    clock,
    idTokenLifetimeMs: HOUR_MS,
    credentialLifetimeMs: HOUR_MS,
    identityId: BENCH_IDENTITY_ID,
    credentials: benchCredentials,
  });
  const { daemon, url, masterToken } = await startMemoryDaemon({ upstream, clock });
  await waitUntilReady(daemon);
  const started = performance.now();
  const snapshots: MemoryCognito['calls'][] = [];
  const snapshot = () => snapshots.push({ ...upstream.calls });
  let requests = 0;
  let failures = 0;

  if (mode === 'steady') {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let hour = 0; hour < hours; hour += 1) {
      for (let s = 0; s < HOUR_MS / TICK_MS; s += 1) {
        const { status, body } = await httpGet(`${url}/credentials`, masterToken, { agent });
        requests += 1;
        if (status !== 200 || !(Date.parse((JSON.parse(body) as { Expiration: string }).Expiration) > clock.now())) failures += 1;
        await clock.advance(TICK_MS);
      }
      snapshot();
    }
    agent.destroy();
  } else {
    const realSeconds = Number(values['real-seconds'] ?? 30);
    const load: Promise<LoadResult> = runLoad({ url: `${url}/credentials`, token: masterToken, connections: 50, durationS: realSeconds + 1, cpu: LOAD_CPU });
    const simulatedMs = hours * HOUR_MS;
    const realMs = realSeconds * 1000;
    let simulated = 0;
    while (simulated < simulatedMs) {
      await sleep(2);
      const target = Math.min(simulatedMs, Math.floor(((performance.now() - started) / realMs) * simulatedMs / TICK_MS) * TICK_MS);
      while (simulated < target) {
        await clock.advance(TICK_MS);
        simulated += TICK_MS;
        if (simulated % HOUR_MS === 0) snapshot();
      }
    }
    const result = await load;
    requests = result.requests;
    failures = result.non2xx + result.errors;
  }
  const realSeconds = (performance.now() - started) / 1000;
  await daemon.close();

  const perHour = snapshots.map((s, i) => {
    const before = snapshots[i - 1] ?? { refresh: 0, getId: 0, getCredentials: 0 };
    return { refresh: s.refresh - before.refresh, getId: s.getId - before.getId, getCredentials: s.getCredentials - before.getCredentials };
  });
  // Calls made before the first simulated second (the start-up refresh) belong to hour 1:
  // the snapshots are cumulative from zero, so they already are.
  const result: EconomyScenarioResult = {
    mode,
    hours,
    perHour,
    requests,
    failures,
    realSeconds,
    realRps: requests / realSeconds,
    simulatedRps: requests / (hours * 3600),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
