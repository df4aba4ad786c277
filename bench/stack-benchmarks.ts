/**
 * The benchmarks that need the real `serve` (the compiled CLI, the keychain, the AWS SDK
 * clients) against the local Cognito stack behind a delaying proxy:
 *
 *   burst        1,000 concurrent first requests at start → how many Cognito calls
 *   newProcess   time to credentials for a fresh process: via the broker vs doing the
 *                refresh and the identity-pool exchange itself
 *   startup      spawning `serve` → the first 200 on /credentials
 *   memory       RSS idle and after a million requests
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { httpGet } from '../testkit/http.js';
import { freePort } from '../testkit/ports.js';
import { waitFor } from '../testkit/wait.js';
import type { BrokerStack } from './support/broker-stack.js';
import { processMemory } from './support/machine.js';
import { runLoad } from './support/load.js';
import { median, sleep } from './support/stats.js';

const SERVER_CPU = 0;
const LOAD_CPU = 1;

// --- burst -------------------------------------------------------------------------------

export interface BurstResult {
  readonly requests: number;
  readonly statuses: Record<string, number>;
  /** Calls the proxies saw: InitiateAuth, GetId, GetCredentialsForIdentity. */
  readonly upstreamCalls: Record<string, number>;
  /** The emulator's own counters. */
  readonly emulatorCalls: Record<string, number>;
  readonly slowestMs: number;
  readonly upstreamDelayMs: number;
}

/** A fresh serve; as soon as it listens, `count` requests at once, one connection each. */
export async function runBurst(bs: BrokerStack, count: number, upstreamDelayMs: number): Promise<BurstResult> {
  bs.setUpstreamDelay(upstreamDelayMs);
  bs.setServerPort(0);
  const before = { ...bs.stack.emulator.calls };
  bs.resetUpstreamCalls();
  const serve = await bs.serve();
  try {
    const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: count }, () => httpGet(serve.credentialsUrl, serve.token, { agent }).then((r) => ({ ...r, ms: performance.now() - started }))),
    );
    agent.destroy();
    const statuses: Record<string, number> = {};
    for (const r of results) statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1;
    const after = bs.stack.emulator.calls;
    return {
      requests: count,
      statuses,
      upstreamCalls: bs.upstreamCalls(),
      emulatorCalls: { GetId: after.GetId - before.GetId, GetCredentialsForIdentity: after.GetCredentialsForIdentity - before.GetCredentialsForIdentity },
      slowestMs: Math.max(...results.map((r) => r.ms)),
      upstreamDelayMs,
    };
  } finally {
    await serve.stop();
  }
}

// --- time to credentials for a new process --------------------------------------------------

const CLIENTS = fileURLToPath(new URL('./clients/', import.meta.url));

export interface NewProcessResult {
  readonly upstreamDelayMs: number;
  readonly runs: number;
  /** Spawn → credentials in hand, each run. */
  readonly viaBrokerMs: number[];
  readonly directMs: number[];
  readonly nodeFloorMs: number[];
  readonly medians: { viaBroker: number; direct: number; nodeFloor: number };
  /** direct / via broker. */
  readonly ratio: number;
  /** Cognito calls the direct runs made, per run. */
  readonly directUpstreamCallsPerRun: Record<string, number>;
}

export async function runNewProcess(bs: BrokerStack, runs: number, upstreamDelayMs: number): Promise<NewProcessResult> {
  bs.setUpstreamDelay(upstreamDelayMs);
  bs.setServerPort(0);
  const serve = await bs.serve();
  const home = mkdtempSync(join(tmpdir(), 'cognito-broker-bench-home-'));
  try {
    await answering200(serve.credentialsUrl, serve.token);
    const refreshToken = await signIn(bs);
    // A clean machine: no ~/.aws, no AWS_* but what each way needs.
    const base = { PATH: process.env.PATH, HOME: home, NODE_NO_WARNINGS: '1' };
    const brokerEnv = {
      ...base,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: serve.credentialsUrl,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: serve.token,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: serve.tokenFile,
    };
    const directEnv = {
      ...base,
      BENCH_REGION: bs.stack.region,
      BENCH_USER_POOL_ENDPOINT: bs.userPoolProxy.url,
      BENCH_IDENTITY_POOL_ENDPOINT: bs.identityPoolProxy.url,
      BENCH_CLIENT_ID: bs.stack.clientId,
      BENCH_IDENTITY_POOL_ID: bs.stack.identityPoolId,
      BENCH_LOGINS_KEY: bs.stack.loginsKey,
    };
    const viaBrokerMs: number[] = [];
    const directMs: number[] = [];
    const nodeFloorMs: number[] = [];
    // One untimed run of each first: the OS file cache, as on a machine in use.
    await timeClient('sdk-chain-client.js', brokerEnv);
    await timeClient('direct-cognito-client.js', directEnv, refreshToken);
    bs.resetUpstreamCalls();
    for (let i = 0; i < runs; i += 1) {
      // Alternate the order so neither always follows the other.
      const pair = [
        async () => viaBrokerMs.push(await timeClient('sdk-chain-client.js', brokerEnv)),
        async () => directMs.push(await timeClient('direct-cognito-client.js', directEnv, refreshToken)),
      ];
      for (const run of i % 2 === 0 ? pair : pair.reverse()) await run();
      nodeFloorMs.push(await timeClient('noop-client.js', base));
    }
    const calls = bs.upstreamCalls();
    const medians = { viaBroker: median(viaBrokerMs), direct: median(directMs), nodeFloor: median(nodeFloorMs) };
    return {
      upstreamDelayMs,
      runs,
      viaBrokerMs,
      directMs,
      nodeFloorMs,
      medians,
      ratio: medians.direct / medians.viaBroker,
      directUpstreamCallsPerRun: Object.fromEntries(Object.entries(calls).map(([op, n]) => [op, n / runs])),
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
    await serve.stop();
  }
}

/** A refresh token of the stack's user, as a tool without the broker would keep one. */
async function signIn(bs: BrokerStack): Promise<string> {
  const idp = new CognitoIdentityProviderClient({ region: bs.stack.region, endpoint: bs.stack.cognitoIdpUrl, credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' }, maxAttempts: 1 });
  try {
    const auth = await idp.send(
      new InitiateAuthCommand({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: bs.stack.clientId, AuthParameters: { USERNAME: bs.stack.username, PASSWORD: bs.stack.password } }),
    );
    const token = auth.AuthenticationResult?.RefreshToken;
    if (!token) throw new Error('sign-in returned no refresh token');
    return token;
  } finally {
    idp.destroy();
  }
}

/** Spawn → the `CREDENTIALS` line, in ms; then waits for the exit (status 0 required). */
function timeClient(script: string, env: NodeJS.ProcessEnv, stdin = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [join(CLIENTS, script)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let at: number | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (at === undefined && out.includes('CREDENTIALS ')) at = performance.now() - started;
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end(stdin);
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0 && at !== undefined) resolve(at);
      else reject(new Error(`${script} exited ${code}: ${(err || out).trim().slice(-1500)}`));
    });
  });
}

// --- start-up ----------------------------------------------------------------------------------

export interface StartupResult {
  readonly upstreamDelayMs: number;
  readonly runs: number;
  /** Spawn → the port accepts connections. */
  readonly listeningMs: number[];
  /** Spawn → the first 200 on /credentials. */
  readonly first200Ms: number[];
  readonly medians: { listening: number; first200: number };
}

/**
 * Spawns serve on a known free port and polls /credentials every 2 ms from the moment of spawn.
 * With `cold`, each start is the first after an install: no compile cache (on Node 20, the
 * code cache of the CLI's bundles, src/require-bundle.ts, which serve writes once its start-up
 * is over; the others start from it).
 */
export async function runStartup(bs: BrokerStack, runs: number, upstreamDelayMs: number, cli?: string, cold = false): Promise<StartupResult> {
  bs.setUpstreamDelay(upstreamDelayMs);
  const listeningMs: number[] = [];
  const first200Ms: number[] = [];
  const token = await endpointToken(bs);
  for (let i = 0; i < runs; i += 1) {
    if (cold) rmSync(join(bs.env.XDG_CACHE_HOME as string, 'cognito-broker', 'compile-cache'), { recursive: true, force: true });
    const port = await freePort();
    bs.setServerPort(port);
    const started = performance.now();
    const serve = bs.serve(cli ? { cli } : {});
    serve.catch(() => undefined);
    const url = `http://127.0.0.1:${port}/credentials`;
    let listening: number | undefined;
    try {
      for (;;) {
        if (performance.now() - started > 20_000) throw new Error('serve gave no 200 within 20 s');
        const answer = await httpGet(url, token).catch(() => undefined);
        if (answer && listening === undefined) listening = performance.now() - started;
        if (answer?.status === 200) break;
        await sleep(2);
      }
      first200Ms.push(performance.now() - started);
      listeningMs.push(listening ?? Number.NaN);
    } finally {
      await (await serve).stop();
    }
  }
  bs.setServerPort(0);
  return { upstreamDelayMs, runs, listeningMs, first200Ms, medians: { listening: median(listeningMs), first200: median(first200Ms) } };
}

/** The endpoint token serve keeps in its token file (created by the first serve). */
async function endpointToken(bs: BrokerStack): Promise<string> {
  bs.setServerPort(0);
  const serve = await bs.serve();
  await serve.stop();
  return serve.token;
}

// --- memory ------------------------------------------------------------------------------------------

export interface MemoryResult {
  /** 5 s after the first 200. */
  readonly idleRssBytes: number;
  /** 30 s after it: V8 gives memory back to the system some seconds into a quiet spell. */
  readonly idleLaterRssBytes?: number;
  readonly requests: number;
  readonly loadSeconds: number;
  readonly rps: number;
  readonly afterLoadRssBytes: number;
  /** After 10 s of quiet following the load. */
  readonly settledRssBytes: number;
  /** VmHWM: the highest RSS the process ever had. */
  readonly peakRssBytes: number;
  readonly failures: number;
}

export async function runMemory(bs: BrokerStack, requests: number, log: (line: string) => void): Promise<MemoryResult> {
  bs.setUpstreamDelay(0);
  bs.setServerPort(0);
  const serve = await bs.serve({ cpu: SERVER_CPU });
  try {
    await answering200(serve.credentialsUrl, serve.token);
    await sleep(5_000);
    const idle = processMemory(serve.pid).rss;
    await sleep(25_000);
    const idleLater = processMemory(serve.pid).rss;
    let done = 0;
    let failures = 0;
    let seconds = 0;
    // wrk runs for a time, not a count: chunks sized from the rate so far, until the count is reached.
    while (done < requests) {
      const rate = seconds > 0 ? done / seconds : 10_000;
      const chunk = Math.max(2, Math.min(60, Math.ceil((requests - done) / rate) + 1));
      const result = await runLoad({ url: serve.credentialsUrl, token: serve.token, connections: 50, durationS: chunk, cpu: LOAD_CPU });
      done += result.requests;
      failures += result.non2xx + result.errors;
      seconds += chunk;
      log(`  memory: ${done.toLocaleString('en-US')} requests so far, RSS ${(processMemory(serve.pid).rss / 2 ** 20).toFixed(1)} MB`);
    }
    const afterLoad = processMemory(serve.pid).rss;
    await sleep(10_000);
    const { rss: settled, peak } = processMemory(serve.pid);
    return { idleRssBytes: idle, idleLaterRssBytes: idleLater, requests: done, loadSeconds: seconds, rps: done / seconds, afterLoadRssBytes: afterLoad, settledRssBytes: settled, peakRssBytes: peak, failures };
  } finally {
    await serve.stop();
  }
}

/** Until `url` answers 200: serve's first refresh is done. */
async function answering200(url: string, token: string): Promise<void> {
  const status = () => httpGet(url, token).then((answer) => answer.status, () => 0);
  await waitFor(`a 200 from ${url}`, status, (code) => code === 200, { timeoutMs: 10_000, intervalMs: 20 });
}
