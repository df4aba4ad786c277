/**
 * 2. Upstream economy: the same simulated hours at one request per simulated second and
 * at the highest rate the machine sustains must cost Cognito the same calls: one refresh
 * per lifetime window, whatever the load. Each scenario runs in economy-worker.js, pinned
 * to core 0 (its load generator to core 1).
 */
import { fileURLToPath } from 'node:url';
import { CREDENTIALS_POLICY, ID_TOKEN_POLICY, refreshAt, type FreshnessPolicy } from '../src/broker/freshness-policy.js';
import type { EconomyScenarioResult } from './economy-worker.js';
import { ChildGroup } from '../testkit/children.js';
import { pinned } from './support/machine.js';

const HOUR_MS = 3_600_000;
const WORKER = fileURLToPath(new URL('./economy-worker.js', import.meta.url));

export interface EconomyResult {
  readonly hours: number;
  readonly steady: EconomyScenarioResult;
  readonly max: EconomyScenarioResult;
  /** One call per renewal window of the broker's own policy (src/broker/freshness-policy.ts). */
  readonly expected: { refresh: number; getId: number; getCredentials: number };
  /** Minutes between renewals: ID tokens, credentials. */
  readonly windowsMinutes: { idToken: number; credentials: number };
  readonly equal: boolean;
  readonly asExpected: boolean;
}

export async function runEconomy(hours: number, maxRealSeconds: number): Promise<EconomyResult> {
  const steady = await runScenario(['--mode', 'steady', '--hours', String(hours)]);
  const max = await runScenario(['--mode', 'max', '--hours', String(hours), '--real-seconds', String(maxRealSeconds)]);
  const total = (r: EconomyScenarioResult) =>
    r.perHour.reduce((sum, h) => ({ refresh: sum.refresh + h.refresh, getId: sum.getId + h.getId, getCredentials: sum.getCredentials + h.getCredentials }), {
      refresh: 0,
      getId: 0,
      getCredentials: 0,
    });
  // A set issued at t is renewed at refreshAt(): every `window` minutes. Timers due at the
  // last simulated second fire too, so both ends of the span count.
  const window = (policy: FreshnessPolicy) => refreshAt({ issuedAt: 0, expiresAt: HOUR_MS }, policy) / 60_000;
  const windowsMinutes = { idToken: window(ID_TOKEN_POLICY), credentials: window(CREDENTIALS_POLICY) };
  const minutes = hours * 60;
  const expected = { refresh: Math.floor(minutes / windowsMinutes.idToken) + 1, getId: 1, getCredentials: Math.floor(minutes / windowsMinutes.credentials) + 1 };
  const same = (a: object, b: object) => JSON.stringify(a) === JSON.stringify(b);
  return {
    hours,
    steady,
    max,
    expected,
    windowsMinutes,
    equal: same(steady.perHour, max.perHour),
    asExpected: same(total(steady), expected) && same(total(max), expected) && steady.failures === 0 && max.failures === 0,
  };
}

async function runScenario(args: string[]): Promise<EconomyScenarioResult> {
  const group = new ChildGroup();
  try {
    const [command, argv] = pinned(0, process.execPath, [WORKER, ...args]);
    const child = group.spawn(command, argv, { env: { ...process.env } });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (code !== 0 || !line) throw new Error(`economy worker ${args.join(' ')} exited ${code}: ${group.output(child)}`);
    return JSON.parse(line.slice('RESULT '.length)) as EconomyScenarioResult;
  } finally {
    await group.stopAll();
  }
}
