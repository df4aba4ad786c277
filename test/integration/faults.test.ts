/**
 * Faults, in fake time: the real broker (createDaemon, the real AWS SDK clients, the HTTP
 * app through inject) against the local Cognito stack behind a fault-injecting proxy,
 * with the user pool, the identity-pool emulator and the broker all on one FakeClock.
 * Hours of outages and backoff run in seconds; the upstream calls are real HTTP.
 *
 * The real-time faults (hung upstream, revoked refresh token with the spawned CLI, a locked
 * keychain, kill -9) are in faults-real-time.test.ts.
 */
import { CognitoIdentityProviderClient, RevokeTokenCommand } from '@aws-sdk/client-cognito-identity-provider';
import t, { type Test } from 'tap';
import { BACKOFF_BASE_MS, BACKOFF_JITTER_RATIO, BACKOFF_MAX_MS } from '../../src/broker/backoff.js';
import { CREDENTIALS_POLICY, ID_TOKEN_POLICY } from '../../src/broker/freshness-policy.js';
import { STORE_POLL_MS } from '../../src/broker/profile-session.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { advance, advanceUntil, ENDPOINT_TOKEN, type FaultDaemon, type Reply, signInThrough, startFaultDaemon } from '../support/fault-daemon.js';
import type { Fault } from '../../testkit/fault-proxy.js';
import { seededRandom } from '../support/seeded-random.js';
import { startFaultStack } from '../support/fault-stack.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const fs = await startFaultStack();
t.teardown(() => fs.stop());

async function daemon(t: Test, options: Partial<Parameters<typeof startFaultDaemon>[1]> = {}): Promise<{ clock: FakeClock; d: FaultDaemon }> {
  const clock = new FakeClock(Date.now());
  const d = await startFaultDaemon(fs, { clock, random: seededRandom(7), ...options });
  t.teardown(() => d.stop());
  return { clock, d };
}

interface Failure {
  readonly minute: number;
  readonly path: string;
  readonly status: number;
  readonly code?: string | undefined;
}

interface PollResult {
  served: number;
  readonly failures: Failure[];
  /** Least time left on what was served, per path. */
  readonly leastLeftMs: Record<string, number>;
  readonly replies: { at: number; path: string; reply: Reply }[];
}

/** A client calling every path every `everyMs` while the fake clock runs `ms`. */
async function poll(clock: FakeClock, d: FaultDaemon, ms: number, everyMs: number, paths: readonly string[], step = 250): Promise<PollResult> {
  const start = clock.now();
  const result: PollResult = { served: 0, failures: [], leastLeftMs: {}, replies: [] };
  await advance(clock, d, ms, {
    step,
    every: everyMs,
    tick: async () => {
      for (const path of paths) {
        const reply = await d.get(path);
        result.replies.push({ at: clock.now(), path, reply });
        if (reply.status !== 200) {
          result.failures.push({ minute: (clock.now() - start) / MINUTE, path, status: reply.status, code: reply.body.Code });
          continue;
        }
        result.served += 1;
        const left = Date.parse(reply.body.Expiration as string) - clock.now();
        result.leastLeftMs[path] = Math.min(result.leastLeftMs[path] ?? Infinity, left);
      }
    },
  });
  return result;
}

/** Fake time from the upstream's return until the session is renewed and `path` answers 200 (a client asks at every step). */
async function recovery(clock: FakeClock, d: FaultDaemon, path = '/credentials'): Promise<number> {
  return advanceUntil(clock, d, async () => (await d.get(path)).status === 200 && d.session.phase === 'ready', 2 * BACKOFF_MAX_MS);
}

function expiresAt(reply: Reply): number {
  return Date.parse(reply.body.Expiration as string);
}

t.test('the identity pool down for 10 minutes while credentials are valid: no client request fails', async (t) => {
  const { clock, d } = await daemon(t);
  const first = await d.get('/credentials');
  t.equal(first.status, 200);
  // The outage begins where it hurts most: at the moment renewal starts.
  await advance(clock, d, expiresAt(first) - CREDENTIALS_POLICY.refreshAheadMs - clock.now() - 1000, { step: 10_000 });
  d.proxy.inject('identity-pool', { kind: 'status', status: 503 });
  const downAt = clock.now();
  const before = d.session.status().upstreamCalls;

  const polls = await poll(clock, d, 10 * MINUTE, 5000, ['/credentials', '/token'], 1000);
  t.same(polls.failures, [], `all ${polls.served} requests answered 200`);
  t.ok((polls.leastLeftMs['/credentials'] ?? 0) >= CREDENTIALS_POLICY.minRemainingMs, `credentials always had at least 15 min left (least: ${Math.round((polls.leastLeftMs['/credentials'] ?? 0) / 1000)} s)`);
  const tried = d.session.status().upstreamCalls.getCredentials - before.getCredentials;
  t.ok(tried >= 7 && tried <= 26, `the broker kept trying, with backoff: ${tried} attempts in 10 minutes`);
  t.equal(d.proxy.count('GetCredentialsForIdentity', downAt), tried, 'one call each: the SDK does not retry a 503 on top');
  t.match(d.session.status(), { phase: 'degraded', lastError: { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE' } });

  d.proxy.clear();
  const took = await recovery(clock, d);
  t.ok(took <= BACKOFF_MAX_MS, `back to fresh credentials ${took / 1000} s after the identity pool returned (one backoff step: at most ${BACKOFF_MAX_MS / 1000} s)`);
  const after = await d.get('/credentials');
  t.not(after.body.AccessKeyId, first.body.AccessKeyId, 'renewed');
  t.ok(expiresAt(after) - clock.now() > 55 * MINUTE);
});

t.test('the user pool down for 10 minutes from the ID token\'s renewal: no client request fails', async (t) => {
  const { clock, d } = await daemon(t);
  const firstToken = await d.get('/token');
  t.equal(firstToken.status, 200);
  await advance(clock, d, expiresAt(firstToken) - ID_TOKEN_POLICY.refreshAheadMs - clock.now() - 1000, { step: 10_000 });
  d.proxy.inject('user-pool', { kind: 'reset' });
  const downAt = clock.now();
  const before = d.session.status().upstreamCalls;

  const polls = await poll(clock, d, 10 * MINUTE + 1000, 5000, ['/credentials', '/token'], 1000);
  t.same(polls.failures, [], `all ${polls.served} requests answered 200`);
  t.ok((polls.leastLeftMs['/token'] ?? 0) >= ID_TOKEN_POLICY.hardMinRemainingMs, `ID tokens always had time left (least: ${Math.round((polls.leastLeftMs['/token'] ?? 0) / 1000)} s)`);
  t.ok((polls.leastLeftMs['/credentials'] ?? 0) >= CREDENTIALS_POLICY.minRemainingMs, 'credentials always had at least 15 min left');
  const tried = d.session.status().upstreamCalls.refresh - before.refresh;
  t.ok(tried >= 7 && tried <= 26, `the broker kept trying, with backoff: ${tried} attempts in 10 minutes`);
  t.equal(d.proxy.count('InitiateAuth', downAt), 2 * tried, 'each with one SDK retry of the reset connection, no more');
  t.match(d.session.status(), { phase: 'degraded', lastError: { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', message: /user pool/ } });

  d.proxy.clear();
  const took = await recovery(clock, d, '/token');
  t.ok(took <= BACKOFF_MAX_MS, `a new ID token ${took / 1000} s after the user pool returned`);
  const after = await d.get('/token');
  t.not(after.body.IdToken, firstToken.body.IdToken);
  t.ok(expiresAt(after) - clock.now() > 55 * MINUTE, 'issued now, on the test clock, by cognito-local');
});

const OUTAGES: { pool: 'identity-pool' | 'user-pool'; fault: Fault; path: string; policy: typeof CREDENTIALS_POLICY }[] = [
  { pool: 'identity-pool', fault: { kind: 'aws-error', type: 'InternalErrorException', status: 500 }, path: '/credentials', policy: CREDENTIALS_POLICY },
  { pool: 'user-pool', fault: { kind: 'status', status: 503 }, path: '/token', policy: ID_TOKEN_POLICY },
];

for (const { pool, fault, path, policy } of OUTAGES) {
  t.test(`the ${pool.replace('-', ' ')} down past expiry: 503 saying so, never an expired ${path === '/token' ? 'ID token' : 'credential'}, and back within one backoff step`, async (t) => {
    const { clock, d } = await daemon(t);
    const first = await d.get(path);
    await advance(clock, d, expiresAt(first) - policy.refreshAheadMs - clock.now() - 1000, { step: 10_000 });
    d.proxy.inject(pool, fault);

    // Until well past the expiry of what was held, and of the credentials for the user pool.
    const until = (pool === 'user-pool' ? CREDENTIALS_POLICY.refreshAheadMs : 0) + policy.refreshAheadMs + 15 * MINUTE;
    const polls = await poll(clock, d, until, 15_000, ['/credentials', '/token'], 5000);
    const served = polls.replies.filter((r) => r.reply.status === 200);
    const expired = served.filter((r) => expiresAt(r.reply) - r.at < policy.hardMinRemainingMs && r.path === path);
    t.same(expired, [], `never served with less than ${policy.hardMinRemainingMs / 1000} s left (${served.length} served)`);
    const refused = polls.replies.filter((r) => r.reply.status !== 200);
    t.ok(refused.some((r) => r.path === path), `${refused.length} requests refused once nothing valid was left`);
    const saying = new RegExp(`^The Cognito ${pool.replace('-', ' ')} did not answer.*retrying with backoff`);
    const unclear = refused.filter(({ reply }) =>
      reply.status !== 503 || reply.contentType !== 'application/json' || Object.keys(reply.body).join() !== 'Code,Message'
      || reply.body.Code !== 'BRK_ERR_UPSTREAM_UNAVAILABLE' || !saying.test(reply.body.Message ?? ''));
    t.same(unclear, [], `each a 503 {"Code","Message"} naming the ${pool}: ${refused[0]?.reply.body.Message}`);
    if (pool === 'identity-pool') t.notOk(refused.some((r) => r.path === '/token'), 'ID tokens, from the user pool, kept coming');

    d.proxy.clear();
    const retryAt = Date.parse(d.session.status().retryAt ?? '');
    const backAt = clock.now();
    const took = await recovery(clock, d, path);
    t.ok(took <= Math.max(0, retryAt - backAt) + 250 && took <= BACKOFF_MAX_MS, `200 again ${took / 1000} s after the ${pool.replace('-', ' ')} returned, at the next scheduled retry`);
    t.equal((await d.get('/credentials')).status, 200);
  });
}

t.test('a throttling storm: retries back off exponentially with jitter, upstream calls per minute stay bounded', async (t) => {
  const { clock, d } = await daemon(t, { random: seededRandom(11) });
  const first = await d.get('/credentials');
  await advance(clock, d, expiresAt(first) - CREDENTIALS_POLICY.refreshAheadMs - clock.now() - 1000, { step: 10_000 });
  d.proxy.inject('identity-pool', { kind: 'aws-error', type: 'TooManyRequestsException', message: 'Rate exceeded' });
  d.proxy.inject('user-pool', { kind: 'aws-error', type: 'LimitExceededException', message: 'Rate exceeded' });
  const stormAt = clock.now();
  const polls = await poll(clock, d, 10 * MINUTE, 5000, ['/credentials']);
  t.same(polls.failures, [], 'clients were served from memory throughout');

  const calls = d.proxy.log.filter((r) => r.at >= stormAt).map((r) => r.at);
  const perMinute = Array.from({ length: 10 }, (_, m) => calls.filter((at) => at >= stormAt + m * MINUTE && at < stormAt + (m + 1) * MINUTE).length);
  t.comment(`upstream calls per minute of the storm: ${perMinute.join(', ')}`);
  t.ok((perMinute[0] ?? 0) <= 7, `first minute: ${perMinute[0]} calls (1 s, 2 s, 4 s ... apart)`);
  t.ok(perMinute.slice(1).every((n) => n <= 2), 'then at most 2 a minute (retries at most a minute apart, jitter down to half)');
  t.equal(new Set(calls).size, calls.length, 'one call per broker attempt: the SDK does not retry throttling on top');

  const gaps = calls.slice(1).map((at, i) => at - (calls[i] as number));
  const steps = gaps.map((_, i) => Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** i));
  const ratios = gaps.map((gap, i) => gap / (steps[i] as number));
  // The clock moves in 250 ms steps here, so a measured gap may be up to a step longer.
  const inRange = gaps.every((gap, i) => gap >= (1 - BACKOFF_JITTER_RATIO) * (steps[i] as number) - 250 && gap <= (steps[i] as number) + 250);
  t.ok(inRange, `every delay between half and all of its exponential step: ${gaps.map((g) => g / 1000).join(', ')} s`);
  t.ok(Math.max(...ratios) - Math.min(...ratios) > 0.1, 'jittered: the delays are not a fixed share of the step');

  d.proxy.clear();
  const took = await recovery(clock, d);
  t.ok(took <= BACKOFF_MAX_MS, `recovered ${took / 1000} s after the storm`);
});

t.test('the wall clock jumps two hours (a laptop waking): the next request refreshes before it serves', async (t) => {
  const { clock, d } = await daemon(t);
  const credentials = await d.get('/credentials');
  const token = await d.get('/token');
  const seen = d.proxy.log.length;
  await clock.sleep(2 * HOUR);
  const wokeAt = clock.now();

  const after = await d.get('/credentials');
  t.equal(after.status, 200);
  t.not(after.body.AccessKeyId, credentials.body.AccessKeyId, 'not the credentials from before the sleep (they expired an hour ago)');
  t.ok(expiresAt(after) - wokeAt > 55 * MINUTE, 'fresh ones');
  const calls = d.proxy.log.slice(seen);
  t.same(calls.map((c) => c.operation), ['InitiateAuth', 'GetCredentialsForIdentity'], 'a new ID token, then credentials, both before the answer');
  t.ok(calls.every((c) => c.at === wokeAt), 'asked for after the jump');
  const newToken = await d.get('/token');
  t.not(newToken.body.IdToken, token.body.IdToken);
  t.ok(expiresAt(newToken) - wokeAt > 55 * MINUTE);
  t.equal(d.proxy.log.length, seen + 2, '/token was served from what the first request fetched');
});

t.test('a revoked refresh token: login required after one refused call, no retry loop, and a new sign-in resumes', async (t) => {
  const { clock, d } = await daemon(t);
  const token = await d.get('/token');
  const admin = new CognitoIdentityProviderClient({ region: fs.stack.region, endpoint: fs.stack.cognitoIdpUrl, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  t.teardown(() => admin.destroy());
  await admin.send(new RevokeTokenCommand({ Token: d.stored.refreshToken, ClientId: fs.stack.clientId }));
  const refreshesBefore = d.proxy.count('InitiateAuth');

  await advance(clock, d, expiresAt(token) - ID_TOKEN_POLICY.refreshAheadMs - clock.now() + 1000, { step: 10_000 });
  t.equal(d.session.phase, 'login-required');
  t.equal(d.proxy.count('InitiateAuth') - refreshesBefore, 1, 'one refused refresh');
  t.equal((await d.get('/credentials')).status, 200, 'credentials already issued are served until they expire');
  const refusedAt = clock.now();
  await advance(clock, d, 2 * HOUR, { step: 10_000 });
  t.equal(d.proxy.count('InitiateAuth') - refreshesBefore, 1, 'and no retry in the two hours after');
  t.equal(d.proxy.count('identity-pool', refusedAt), 0, 'nor any identity-pool call');
  const refused = await d.get('/credentials');
  t.equal(refused.status, 503);
  t.match(refused.body, { Code: 'BRK_ERR_LOGIN_REQUIRED', Message: /must sign in again.*Run: cognito-broker login/ });
  t.notMatch(refused.body.Message, d.stored.refreshToken);

  await d.sessions.save(d.profile, await signInThrough(d.profile, fs.stack.username, fs.stack.password, clock));
  const took = await advanceUntil(clock, d, () => d.session.phase === 'ready', STORE_POLL_MS + 1000);
  t.ok(took <= STORE_POLL_MS, `the new sign-in was picked up ${took / 1000} s after it was stored`);
  t.equal((await d.get('/credentials')).status, 200);
});

const SKEWED: { op: string; what: string; rewrite: (b: Record<string, unknown>) => unknown }[] = [
  {
    op: 'InitiateAuth',
    what: 'an ID token',
    rewrite: (b) => {
      const r = (b.AuthenticationResult ?? {}) as Record<string, unknown>;
      return { ...b, AuthenticationResult: { ...r, IdToken: shiftJwt(r.IdToken as string, -2 * HOUR) } };
    },
  },
  {
    op: 'GetCredentialsForIdentity',
    what: 'credentials',
    rewrite: (b) => {
      const c = (b.Credentials ?? {}) as Record<string, number>;
      return { ...b, Credentials: { ...c, Expiration: (c.Expiration as number) - 2 * 3600 } };
    },
  },
];

for (const { op, what, rewrite } of SKEWED) {
  t.test(`${what} already expired by this machine's clock (hours off): an error saying so, and retries paced by the backoff, not a loop`, async (t) => {
    const { clock, d } = await daemon(t, { start: false });
    d.proxy.inject(op, { kind: 'rewrite', rewrite });
    d.daemon.broker.start();
    await d.settled();
    const reply = await d.get('/credentials');
    t.equal(reply.body.Code, 'BRK_ERR_UPSTREAM_MALFORMED');
    t.match(reply.body.Message, /already past by this machine's clock.*Check the system time/);
    await advance(clock, d, 10 * MINUTE);
    const calls = d.proxy.count(op);
    t.ok(calls >= 7 && calls <= 26, `${calls} ${op} calls in 10 minutes: the backoff's pace`);
    d.proxy.clear();
    t.ok((await recovery(clock, d)) <= BACKOFF_MAX_MS, 'served once the answers fit the clock again');
  });
}

// --- malformed answers -----------------------------------------------------------------

type Json = Record<string, unknown>;
const result = (b: Json) => (b.AuthenticationResult ?? {}) as Json;
const creds = (b: Json) => (b.Credentials ?? {}) as Json;
// A JWT that decodes but has no exp, iat or iss.
const JWT_WITHOUT_TIMES = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;

const MALFORMED: { op: string; what: string; rewrite: (b: Json) => unknown; code?: string }[] = [
  { op: 'InitiateAuth', what: 'not JSON (an HTML page)', rewrite: () => '<html><body>Sign-in unavailable</body></html>' },
  { op: 'InitiateAuth', what: 'truncated JSON', rewrite: (b) => JSON.stringify(b).slice(0, -40) },
  { op: 'InitiateAuth', what: 'no IdToken', rewrite: (b) => ({ ...b, AuthenticationResult: { ...result(b), IdToken: undefined } }) },
  { op: 'InitiateAuth', what: 'an IdToken that is a number', rewrite: (b) => ({ ...b, AuthenticationResult: { ...result(b), IdToken: 12345 } }) },
  { op: 'InitiateAuth', what: 'an IdToken that does not decode', rewrite: (b) => ({ ...b, AuthenticationResult: { ...result(b), IdToken: 'eyJhbGciOi.not-base64!.x' } }) },
  { op: 'InitiateAuth', what: 'an IdToken without exp', rewrite: (b) => ({ ...b, AuthenticationResult: { ...result(b), IdToken: JWT_WITHOUT_TIMES } }) },
  { op: 'GetId', what: 'not JSON', rewrite: () => 'Internal error' },
  { op: 'GetId', what: 'no IdentityId', rewrite: () => ({}) },
  { op: 'GetId', what: 'an IdentityId that is a number', rewrite: () => ({ IdentityId: 42 }) },
  { op: 'GetCredentialsForIdentity', what: 'truncated JSON', rewrite: (b) => JSON.stringify(b).slice(0, -30) },
  { op: 'GetCredentialsForIdentity', what: 'no SessionToken', rewrite: (b) => ({ ...b, Credentials: { ...creds(b), SessionToken: undefined } }) },
  { op: 'GetCredentialsForIdentity', what: 'a SecretKey that is a number', rewrite: (b) => ({ ...b, Credentials: { ...creds(b), SecretKey: 42 } }) },
  { op: 'GetCredentialsForIdentity', what: 'an Expiration that is not a time', rewrite: (b) => ({ ...b, Credentials: { ...creds(b), Expiration: 'tomorrow' } }) },
  { op: 'GetCredentialsForIdentity', what: 'Credentials: null', rewrite: (b) => ({ ...b, Credentials: null }) },
  { op: 'GetCredentialsForIdentity', what: 'a load balancer\'s 502 page', rewrite: () => '', code: 'BRK_ERR_UPSTREAM_UNAVAILABLE' },
];

t.test('malformed Cognito answers: a clear error without secrets, a running broker, and recovery', async (t) => {
  const { stored } = (await daemon(t, { start: false })).d;
  for (const { op, what, rewrite, code = 'BRK_ERR_UPSTREAM_MALFORMED' } of MALFORMED) {
    await t.test(`${op} answered with ${what}`, async (t) => {
      const { clock, d } = await daemon(t, { stored, start: false });
      const secrets = new Set<string>([stored.refreshToken]);
      const fault: Fault = code === 'BRK_ERR_UPSTREAM_UNAVAILABLE'
        ? { kind: 'status', status: 502 }
        : { kind: 'rewrite', rewrite: (b) => (collectSecrets(b, secrets), rewrite(b)) };
      d.proxy.inject(op, fault);
      d.daemon.broker.start();
      await d.settled();

      const reply = await d.get('/credentials');
      const tokens = await d.get('/token');
      if (tokens.status === 200) [tokens.body.IdToken, tokens.body.AccessToken].forEach((s) => secrets.add(s as string));
      t.equal(reply.status, code === 'BRK_ERR_UPSTREAM_MALFORMED' ? 502 : 503);
      t.equal(reply.body.Code, code);
      t.match(reply.body.Message, op === 'InitiateAuth' ? /user pool/ : /identity pool/, `says which service: ${reply.body.Message}`);
      const everything = `${reply.body.Message}\n${d.logs.raw.join('\n')}`;
      t.ok(secrets.size >= 3, `secrets to look for: ${secrets.size}`);
      t.same([...secrets].filter((s) => everything.includes(s)), [], 'none of them in the error or the log');
      t.equal(d.proxy.count(op), 1, 'the SDK did not retry it');
      const health = await d.app.inject({ method: 'GET', url: '/status', headers: { authorization: ENDPOINT_TOKEN } });
      t.match(health.json(), { profiles: [{ profile: 'default', phase: 'degraded' }] }, 'the broker runs on');

      d.proxy.clear();
      const took = await recovery(clock, d);
      t.ok(took <= BACKOFF_BASE_MS, `credentials ${took / 1000} s after the answers were good again`);
    });
  }
});

t.test('a malformed renewal while credentials are valid: clients keep being served', async (t) => {
  const { clock, d } = await daemon(t);
  const first = await d.get('/credentials');
  await advance(clock, d, expiresAt(first) - CREDENTIALS_POLICY.refreshAheadMs - clock.now() - 1000, { step: 10_000 });
  d.proxy.inject('GetCredentialsForIdentity', { kind: 'rewrite', rewrite: (b) => ({ ...b, Credentials: { ...creds(b), SecretKey: 42 } }) });
  const polls = await poll(clock, d, 5 * MINUTE, 5000, ['/credentials']);
  t.same(polls.failures, []);
  t.ok(polls.replies.every((r) => r.reply.body.SecretAccessKey === first.body.SecretAccessKey), 'the valid credentials, never the malformed ones');
  t.match(d.session.status(), { phase: 'degraded', lastError: { code: 'BRK_ERR_UPSTREAM_MALFORMED' } });
  d.proxy.clear();
  t.ok((await recovery(clock, d)) <= BACKOFF_MAX_MS);
  t.not((await d.get('/credentials')).body.AccessKeyId, first.body.AccessKeyId);
});

/** The same JWT (signature and all) with its times moved. The broker reads, never verifies, ID tokens. */
function shiftJwt(token: string, ms: number): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { exp: number; iat: number };
  const moved = { ...claims, exp: claims.exp + ms / 1000, iat: claims.iat + ms / 1000 };
  return `${header}.${Buffer.from(JSON.stringify(moved)).toString('base64url')}.${signature}`;
}

/** Every long string in Cognito's answer: tokens, keys. */
function collectSecrets(value: unknown, into: Set<string>): void {
  if (typeof value === 'string' && value.length >= 16 && !value.includes(':')) into.add(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectSecrets(v, into);
}

