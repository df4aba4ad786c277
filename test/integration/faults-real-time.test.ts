/**
 * Faults that only real time, real processes or the real keychain show: a hung upstream
 * against the SDK's timeouts; and, with the compiled CLI spawned as a user runs it, a
 * revoked refresh token, a keychain locked mid-run, at start and during `login`, and
 * kill -9 in the middle of refreshes. The spawned daemons use 8-second token and
 * credential lifetimes (renewal every 4 s) and reach Cognito through the fault proxy.
 *
 * Everything that fake time can show is in faults.test.ts.
 */
import { once } from 'node:events';
import { writeFileSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CognitoIdentityProviderClient, RevokeTokenCommand } from '@aws-sdk/client-cognito-identity-provider';
import t, { type Test } from 'tap';
import { STORE_POLL_MS, REQUEST_WAIT_MS } from '../../src/broker/profile-session.js';
import { UPSTREAM_CONNECT_TIMEOUT_MS, UPSTREAM_MAX_ATTEMPTS, UPSTREAM_REQUEST_TIMEOUT_MS } from '../../src/cognito/create-cognito-clients.js';
import { SAVE_ATTEMPTS } from '../../src/cli/save-session.js';
import { type BrokerEnv, requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, spawnCli, startServe, type ServeProcess } from '../support/cli.js';
import { startBlackhole } from '../support/fault-blackhole.js';
import { ShiftedClock } from '../support/fault-clock.js';
import { startFaultDaemon } from '../support/fault-daemon.js';
import { keychainControl, type KeychainControl } from '../support/fault-keychain.js';
import { startFaultProxy, type FaultProxy } from '../../testkit/fault-proxy.js';
import { startFaultStack, type FaultStack } from '../support/fault-stack.js';
import { type KeychainWorker, missingSecretServiceTools, startKeychainWorker } from '../support/secret-service.js';

const MINUTE = 60_000;
const LIFETIME_MS = 8_000;
const ACCOUNT = 'profile:default';

// --- shared, started on first use ---------------------------------------------------------

interface SpawnEnv {
  readonly be: BrokerEnv;
  readonly proxy: FaultProxy;
  readonly keychain: KeychainControl;
  readonly worker: KeychainWorker;
}

let spawnEnv: Promise<SpawnEnv> | undefined;
/** login/serve against the local stack through the proxy, with a private real Secret Service. */
function sharedSpawnEnv(): Promise<SpawnEnv> {
  spawnEnv ??= (async () => {
    // Never while the fault stack starts: it sets NODE_OPTIONS for its cognito-local child,
    // and a cognito-local started meanwhile would follow the fault stack's clock too.
    await sharedFaultStack();
    const be = await startBrokerEnv({ idTokenLifetimeSeconds: LIFETIME_MS / 1000, credentialLifetimeSeconds: LIFETIME_MS / 1000 });
    const proxy = await startFaultProxy({ userPoolUrl: be.stack.cognitoIdpUrl, identityPoolUrl: be.stack.cognitoIdentityUrl });
    const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { profiles: { default: { endpoints: unknown } } };
    config.profiles.default.endpoints = { cognitoIdp: proxy.url, cognitoIdentity: proxy.url };
    writeFileSync(be.configFile, JSON.stringify(config, null, 2));
    const keychain = keychainControl(be.secretService);
    const worker = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
    t.teardown(async () => {
      await worker.stop();
      await proxy.close();
      await keychain.stop();
      await be.stop();
    });
    return { be, proxy, keychain, worker };
  })();
  return spawnEnv;
}

let faultStack: Promise<FaultStack> | undefined;
function sharedFaultStack(): Promise<FaultStack> {
  faultStack ??= startFaultStack().then((fs) => (t.teardown(() => fs.stop()), fs));
  return faultStack;
}

// cognito-local takes seconds to start: the spawned CLI's stack comes up while the first
// test waits for the SDK's timeouts.
if (!missingSecretServiceTools()) void sharedSpawnEnv().catch(() => undefined);

// --- helpers ------------------------------------------------------------------------------

interface Answer {
  readonly status: number;
  readonly body: Record<string, string>;
}

async function get(serve: ServeProcess, path: string): Promise<Answer> {
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const res = await fetch(`${base}${path}`, { headers: { authorization: serve.master() } });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function phase(serve: ServeProcess): Promise<string | undefined> {
  return serve.phase();
}

/** Polls until `done` holds; resolves with the real time it took. */
async function waitFor(what: string, done: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<number> {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
  return Date.now() - started;
}

async function login(t: Test, env: SpawnEnv): Promise<void> {
  const result = await runCli(['login', '--password-stdin'], env.be.env, env.be.stack.password);
  t.equal(result.code, 0, `login: ${result.stderr.trim()}`);
}

async function serve(t: Test, env: SpawnEnv): Promise<ServeProcess> {
  const s = await startServe([], env.be.env);
  t.teardown(() => s.stop());
  return s;
}

/** Ends with the keychain unlocked, whatever the test did. */
function keepUnlocked(t: Test, env: SpawnEnv): void {
  t.teardown(async () => {
    if (await env.keychain.isLocked()) await env.keychain.unlock();
  });
}

// --- a hung upstream (in-process, real time) ------------------------------------------------

t.test('a hung upstream: every request is answered within 1 s, and the hung call is given up after the SDK timeouts', async (t) => {
  const fs = await sharedFaultStack();
  const clock = new ShiftedClock();
  // The first Cognito calls of a process load the AWS SDK's lazily loaded modules, hundreds
  // of ms of CPU on a busy CI machine, and this is the file's first test: one refresh first,
  // so that the times below are the broker's wait and not this test process's module loading.
  const warmUp = await startFaultDaemon(fs, { clock });
  await warmUp.stop();
  // Two daemons side by side: one whose identity pool accepts and never answers (the
  // request timeout), one whose identity pool never completes the TCP connect (the connect timeout).
  const d = await startFaultDaemon(fs, { clock, start: false });
  t.teardown(() => d.stop());
  const hole = await startBlackhole();
  t.teardown(() => hole.stop());
  const unreachable = await startFaultDaemon(fs, { clock, start: false, endpoints: { cognitoIdentity: hole.url } });
  t.teardown(() => unreachable.stop());

  // Nothing in memory yet, and the identity pool hangs: a 503 to retry, not a hang.
  d.proxy.inject('identity-pool', { kind: 'hang' });
  const startedAt = Date.now();
  d.daemon.broker.start();
  unreachable.daemon.broker.start();
  const cold = [];
  for (let i = 0; i < 3; i += 1) cold.push(await d.get('/credentials'), await unreachable.get('/credentials'));
  t.same(cold.map((r) => r.body.Code), Array(6).fill('BRK_ERR_CREDENTIALS_PENDING'), 'a 503 saying the credentials are on their way');
  const slowest = Math.max(...cold.map((r) => r.ms));
  t.ok(slowest < 1000, `answered within ${Math.round(slowest)} ms (the wait limit is ${REQUEST_WAIT_MS} ms; the SDKs give up after 1 s): ${cold.map((r) => Math.round(r.ms)).join(', ')} ms`);

  // The SDK's timeouts end the calls; one retry each, then the broker's backoff.
  await unreachable.settled();
  const connectGaveUpMs = Date.now() - startedAt;
  t.ok(connectGaveUpMs >= UPSTREAM_MAX_ATTEMPTS * UPSTREAM_CONNECT_TIMEOUT_MS - 500 && connectGaveUpMs < UPSTREAM_MAX_ATTEMPTS * UPSTREAM_CONNECT_TIMEOUT_MS + 3000, `the connect that never completed was given up after ${connectGaveUpMs} ms (${UPSTREAM_MAX_ATTEMPTS} × ${UPSTREAM_CONNECT_TIMEOUT_MS} ms)`);
  t.match(unreachable.session.status(), { phase: 'degraded', lastError: { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', message: /identity pool did not answer.*did not establish a connection/ } });
  await d.settled();
  const gaveUpMs = Date.now() - startedAt;
  t.equal(d.proxy.count('GetId'), UPSTREAM_MAX_ATTEMPTS, `${UPSTREAM_MAX_ATTEMPTS} attempts`);
  t.ok(gaveUpMs >= UPSTREAM_MAX_ATTEMPTS * UPSTREAM_REQUEST_TIMEOUT_MS - 500 && gaveUpMs < UPSTREAM_MAX_ATTEMPTS * UPSTREAM_REQUEST_TIMEOUT_MS + 4000, `the unanswered call was given up after ${gaveUpMs} ms (${UPSTREAM_MAX_ATTEMPTS} × ${UPSTREAM_REQUEST_TIMEOUT_MS} ms)`);
  t.match(d.session.status(), { phase: 'degraded', lastError: { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', message: /identity pool did not answer.*TimeoutError/ } });
  await waitFor('the hung connections to close', () => d.proxy.hung === 0, 1000, 10);

  // Recovered, then 50 minutes later (10 minutes left: below the floor, still valid) it hangs again.
  d.proxy.clear();
  await waitFor('recovery', () => d.session.phase === 'ready', 5000, 20);
  const held = await d.get('/credentials');
  clock.shift(50 * MINUTE);
  d.proxy.inject('GetCredentialsForIdentity', { kind: 'hang' });
  const warm = [];
  for (let i = 0; i < 3; i += 1) warm.push(await d.get('/credentials'));
  t.same(warm.map((r) => r.body.AccessKeyId), Array(3).fill(held.body.AccessKeyId), 'the still-valid credentials, from memory');
  const slowestWarm = Math.max(...warm.map((r) => r.ms));
  t.ok(slowestWarm < 1000, `answered within ${Math.round(slowestWarm)} ms`);
  t.ok(Date.parse(warm[0]?.body.Expiration as string) - clock.now() > 9 * MINUTE);
  t.equal(d.proxy.hung, 1, 'while the renewal hangs');
});

// --- the spawned CLI -------------------------------------------------------------------------

t.test('a revoked refresh token: login required after one refused call, no retry loop, and login again resumes the running daemon', async (t) => {
  if (!requireSecretService(t)) return;
  const env = await sharedSpawnEnv();
  await login(t, env);
  const s = await serve(t, env);
  const first = await get(s, '/credentials');
  t.equal(first.status, 200);

  const { refreshToken } = JSON.parse((await env.worker.get(ACCOUNT)) as string) as { refreshToken: string };
  const admin = new CognitoIdentityProviderClient({ region: env.be.stack.region, endpoint: env.be.stack.cognitoIdpUrl, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  t.teardown(() => admin.destroy());
  await admin.send(new RevokeTokenCommand({ Token: refreshToken, ClientId: env.be.stack.clientId }));
  const since = env.proxy.log.length;
  const refreshes = () => env.proxy.log.slice(since).filter((r) => r.operation === 'InitiateAuth').length;

  await waitFor('login-required', async () => (await phase(s)) === 'login-required', LIFETIME_MS);
  const refusedAt = Date.now();
  t.equal(refreshes(), 1, 'one refused refresh');
  // Until what was issued before expires, it is still served; then the command to run.
  await waitFor('a refusal', async () => (await get(s, '/credentials')).status !== 200, LIFETIME_MS);
  const refused = await get(s, '/credentials');
  t.equal(refused.status, 503);
  t.match(refused.body, { Code: 'BRK_ERR_LOGIN_REQUIRED', Message: /Run: cognito-broker login$/ });
  t.equal(refreshes(), 1, `no retry: still one call ${Date.now() - refusedAt} ms later (a retry loop would make about one a second)`);
  t.equal(env.proxy.log.slice(since).filter((r) => r.pool === 'identity-pool').length, 0, 'and nothing asked of the identity pool');

  await login(t, env);
  const took = await waitFor('the new sign-in', async () => (await get(s, '/credentials')).status === 200, STORE_POLL_MS + 3000);
  t.ok(took <= STORE_POLL_MS + 2000, `the running daemon served again ${took} ms after login`);
  t.equal(s.child.exitCode, null, 'the same process, never restarted');
  t.not((await get(s, '/credentials')).body.AccessKeyId, first.body.AccessKeyId);
});

t.test('the keychain locked mid-run: the running daemon keeps serving and renewing from memory', async (t) => {
  if (!requireSecretService(t)) return;
  const env = await sharedSpawnEnv();
  await login(t, env);
  const s = await serve(t, env);
  const first = await get(s, '/credentials');
  t.equal(first.status, 200);
  keepUnlocked(t, env);
  await env.keychain.lock();
  t.ok(await env.keychain.isLocked());

  const lockedAt = Date.now();
  const renewals = () => env.proxy.log.filter((r) => r.at >= lockedAt && r.operation === 'GetCredentialsForIdentity').length;
  const keys = new Set<string>();
  const failures: Answer[] = [];
  while (renewals() < 1 || keys.size < 2) {
    if (Date.now() - lockedAt > 3 * LIFETIME_MS) break;
    const a = await get(s, '/credentials');
    if (a.status === 200) keys.add(a.body.AccessKeyId as string);
    else failures.push(a);
    await sleep(200);
  }
  t.same(failures, [], 'every request answered 200');
  t.ok(keys.size >= 2, `${keys.size} credential sets served in ${Date.now() - lockedAt} ms: renewed while the keychain was locked`);
  t.equal((await get(s, '/credentials')).status, 200);
  t.ok(await env.keychain.isLocked(), 'the keychain stayed locked throughout');
  t.equal(await phase(s), 'ready');
});

t.test('the keychain locked when the daemon starts: its own error, and the session is picked up after the unlock', async (t) => {
  if (!requireSecretService(t)) return;
  const env = await sharedSpawnEnv();
  await login(t, env);
  keepUnlocked(t, env);
  await env.keychain.lock();
  const s = await serve(t, env);
  await waitFor('degraded', async () => (await phase(s)) === 'degraded', 5000);
  const locked = await get(s, '/credentials');
  t.equal(locked.status, 503);
  t.match(locked.body, { Code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', Message: /keyring is locked.*Unlock it/ });
  await sleep(1500); // a few retries, each failing

  await env.keychain.unlock();
  const took = await waitFor('credentials after the unlock', async () => (await get(s, '/credentials')).status === 200, STORE_POLL_MS + 3000);
  t.ok(took <= STORE_POLL_MS + 1000, `served ${took} ms after the unlock (keychain reads are retried at least every ${STORE_POLL_MS / 1000} s)`);
});

t.test('login with the keychain locked: each failed write is retried and reported, then a clear failure; unlocked meanwhile, it succeeds', async (t) => {
  if (!requireSecretService(t)) return;
  const env = await sharedSpawnEnv();
  await login(t, env);
  const before = await env.worker.raw(ACCOUNT);
  keepUnlocked(t, env);
  await env.keychain.lock();

  const failed = await runCli(['login', '--password-stdin'], env.be.env, env.be.stack.password);
  t.equal(failed.code, 1, 'exits non-zero');
  const retries = failed.stderr.match(/the OS keychain refused the write \(BRK_ERR_KEYCHAIN_UNAVAILABLE\); trying again in [\d.]+ s/g) ?? [];
  t.equal(retries.length, SAVE_ATTEMPTS - 1, `each retry reported:\n${failed.stderr}`);
  t.match(failed.stderr, new RegExp(`signed in as ${env.be.stack.username}, but the session could not be stored in the OS keychain \\(${SAVE_ATTEMPTS} attempts, BRK_ERR_KEYCHAIN_UNAVAILABLE\\); nothing was saved\\. Unlock the keychain, then run cognito-broker login again\\.`));
  t.match(failed.stderr, /\[BRK_ERR_KEYCHAIN_UNAVAILABLE\]\n$/);
  t.notOk(failed.stderr.includes(env.be.stack.password), 'no password in the output');
  t.notMatch(failed.stderr, /\n\s+at /, 'no stack trace');
  await env.keychain.unlock();
  t.equal(await env.worker.raw(ACCOUNT), before, 'the stored session is untouched');

  // Locked again, and unlocked while login waits to retry.
  await env.keychain.lock();
  const child = spawnCli(['login', '--password-stdin'], env.be.env);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin?.end(env.be.stack.password);
  await waitFor('the first retry', () => /trying again/.test(stderr), 15_000, 20);
  await env.keychain.unlock();
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, stderr);
  t.match(stderr, /Signed in as/);
  t.not(await env.worker.raw(ACCOUNT), before, 'the new session is stored');
});

t.test('kill -9 at random points during refreshes, then restart: the session survives', async (t) => {
  if (!requireSecretService(t)) return;
  const env = await sharedSpawnEnv();
  await login(t, env);
  const entry = await env.worker.get(ACCOUNT);
  const accounts = await env.worker.accounts();
  t.ok(entry, 'a session in the keychain');
  // Slower Cognito: a refresh takes about a second, room for a kill to land inside it.
  const removeLatency = env.proxy.inject('*', { kind: 'latency', ms: 250 });
  t.teardown(() => {
    removeLatency();
    env.proxy.onRequest = undefined;
  });

  const kills: string[] = [];
  for (let round = 0; round < 3; round += 1) {
    // The startup refresh, or the first refresh-ahead (half a lifetime later): killed at its
    // 1st, 2nd or 3rd upstream call (InitiateAuth, GetId, GetCredentialsForIdentity; once the
    // IdentityId is kept in the keychain and ahead, no GetId, so a 3rd call is a later
    // refresh's), 0-250 ms after that call arrived.
    const duringStartup = round % 2 === 0;
    const target = duringStartup ? 1 + Math.floor(Math.random() * 3) : 4 + Math.floor(Math.random() * 2);
    const delay = Math.floor(Math.random() * 250);
    let seen = 0;
    let serveProcess: ReturnType<typeof spawnCli> | undefined;
    env.proxy.onRequest = (r) => {
      seen += 1;
      if (seen !== target) return;
      kills.push(`${duringStartup ? 'startup' : 'refresh-ahead'} ${r.operation} +${delay} ms`);
      setTimeout(() => serveProcess?.kill('SIGKILL'), delay);
    };
    serveProcess = spawnCli(['serve'], env.be.env);
    const exited = once(serveProcess, 'exit');
    const [, signal] = (await Promise.race([exited, sleep(3 * LIFETIME_MS).then(() => [null, 'timeout'])])) as [number | null, string | null];
    env.proxy.onRequest = undefined;
    if (signal !== 'SIGKILL') serveProcess.kill('SIGKILL');
    t.equal(signal, 'SIGKILL', `round ${round + 1} killed (${kills.at(-1)})`);
    // Intact: as login wrote it, plus at most the IdentityId the first GetId kept with it.
    const { identity, ...session } = JSON.parse((await env.worker.get(ACCOUNT)) ?? '{}') as { identity?: { identityId: string } };
    t.ok(JSON.stringify(session) === entry, 'the keychain entry is intact');
    if (identity) t.ok(env.be.stack.emulator.identities().has(identity.identityId), 'a kept IdentityId is the identity pool\'s');
  }
  t.comment(`kill -9 points: ${kills.join('; ')}`);
  t.same(await env.worker.accounts(), accounts, 'and nothing added or removed beside it');

  removeLatency();
  const s = await serve(t, env);
  await waitFor('credentials after the restart', async () => (await get(s, '/credentials')).status === 200, 5000);
  const c = await get(s, '/credentials');
  t.match(c.body, { AccessKeyId: /^ASIA/ });
  t.ok(env.be.stack.emulator.issued.has(c.body.AccessKeyId as string), 'fresh credentials from the session that survived');
});
