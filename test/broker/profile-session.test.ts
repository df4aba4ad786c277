import t, { type Test } from 'tap';
import { REQUEST_WAIT_MS, KEYCHAIN_TIMEOUT_MS, STORE_POLL_MS } from '../../src/broker/profile-session.js';
import { KeychainUnavailableError, LoginRequiredError, UpstreamUnavailableError, UpstreamRejectedError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionStore, type StoredSession } from '../../src/store/session-store.js';
import type { AwsCredentials, UserPoolTokens } from '../../src/cognito/types.js';
import { MemoryLock } from '../support/memory-lock.js';
import { FakeClock, settle } from '../../testkit/fake-clock.js';
import { identityOf } from '../../testkit/memory-cognito.js';
import { createHarness, PROFILE, storedSession } from '../support/session-harness.js';
import { IdentityPoolError } from '../../src/errors.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const down = () => new UpstreamUnavailableError('identity pool down (test)');

t.test('serves credentials after one refresh, GetId and GetCredentialsForIdentity', async (t) => {
  const h = await createHarness();
  h.session.start();
  const credentials = await h.session.credentials();
  t.match(credentials, { accessKeyId: /^ASIA/, identityId: /^eu-west-1:/ });
  t.same(h.upstream.calls, { refresh: 1, getId: 1, getCredentials: 1 });
  t.equal(h.session.phase, 'ready');
  const tokens = await h.session.tokens();
  t.match(tokens.idToken, /^id-token-/);
  t.equal(h.upstream.totalCalls, 3, 'reads after the refresh are served from memory');
  h.session.stop();
});

t.test('1,000 concurrent first requests share one upstream call of each kind', async (t) => {
  const h = await createHarness({ latencyMs: 50 });
  const reads = Array.from({ length: 1000 }, () => h.session.credentials());
  await h.clock.advance(200);
  const results = await Promise.all(reads);
  t.equal(new Set(results.map((c) => c.accessKeyId)).size, 1, 'every caller got the same credentials');
  t.same(h.upstream.calls, { refresh: 1, getId: 1, getCredentials: 1 });
  h.session.stop();
});

t.test('1,000 concurrent requests during a refresh-ahead cause one upstream call', async (t) => {
  const h = await createHarness({ latencyMs: 50 });
  h.session.start();
  await h.clock.advance(200);
  const first = await h.session.credentials();
  // Past the refresh-ahead point but with well over the 15-minute floor left.
  h.upstream.identityBehaviour = { kind: 'hang' };
  await h.clock.advance(31 * MINUTE);
  t.equal(h.session.phase, 'refreshing-ahead');
  const during = await Promise.all(Array.from({ length: 1000 }, () => h.session.credentials()));
  t.ok(during.every((c) => c === first), 'served the still-fresh credentials without waiting');
  t.equal(h.upstream.calls.getCredentials, 2, 'one GetCredentialsForIdentity for the refresh, none per request');
  h.upstream.identityBehaviour = { kind: 'ok' };
  h.upstream.release();
  await h.clock.advance(100);
  t.equal(h.session.phase, 'ready');
  h.session.stop();
});

t.test('refreshes ahead of expiry and always serves at least 15 minutes over a day', async (t) => {
  const h = await createHarness();
  h.session.start();
  let minimumLeft = Infinity;
  let minimumTokenLeft = Infinity;
  const keys = new Set<string>();
  for (let minute = 0; minute < 24 * 60; minute += 1) {
    const c = await h.session.credentials();
    const token = await h.session.tokens();
    minimumLeft = Math.min(minimumLeft, c.expiresAt - h.clock.now());
    minimumTokenLeft = Math.min(minimumTokenLeft, token.expiresAt - h.clock.now());
    keys.add(c.accessKeyId);
    await h.clock.advance(MINUTE);
  }
  t.ok(minimumLeft >= 15 * MINUTE, `least time left on a served credential: ${minimumLeft / MINUTE} min`);
  t.ok(minimumTokenLeft >= 5 * MINUTE, `least time left on a served ID token: ${minimumTokenLeft / MINUTE} min`);
  t.equal(h.upstream.calls.getId, 1, 'GetId once: the IdentityId is cached');
  t.ok(h.upstream.calls.getCredentials >= 48 && h.upstream.calls.getCredentials <= 50, `about two exchanges an hour (${h.upstream.calls.getCredentials})`);
  // Renewed 15 minutes ahead: at 45 minutes, then with the credentials at 90, and so on.
  t.ok(h.upstream.calls.refresh >= 30 && h.upstream.calls.refresh <= 34, `an ID-token refresh every 45 minutes (${h.upstream.calls.refresh})`);
  t.ok(keys.size >= 48, `a new credential set every half hour was served (${keys.size})`);
  h.session.stop();
});

t.test('short lifetimes scale the margins: 60-second credentials are served with 15 s left at least', async (t) => {
  const h = await createHarness({ idTokenLifetimeMs: 60_000, credentialsLifetimeMs: 60_000 });
  h.session.start();
  let minimumLeft = Infinity;
  for (let second = 0; second < 600; second += 1) {
    const c = await h.session.credentials();
    minimumLeft = Math.min(minimumLeft, c.expiresAt - h.clock.now());
    await h.clock.advance(1000);
  }
  t.ok(minimumLeft >= 15_000, `least time left: ${minimumLeft} ms`);
  t.ok(h.upstream.calls.getCredentials <= 22, `one exchange per half lifetime (${h.upstream.calls.getCredentials} in 10 min)`);
  h.session.stop();
});

t.test('keeps serving still-valid credentials through a 10-minute identity-pool outage', async (t) => {
  const h = await createHarness();
  h.session.start();
  await h.clock.advance(1000);
  h.upstream.identityBehaviour = { kind: 'fail', error: down };
  await h.clock.advance(30 * MINUTE - 1000); // the refresh-ahead point: the outage is felt from now
  let failures = 0;
  for (let s = 0; s < 600; s += 5) {
    await h.session.credentials().catch(() => (failures += 1));
    await h.clock.advance(5000);
  }
  t.equal(failures, 0, 'no failed request during the outage');
  t.equal(h.session.phase, 'degraded');
  t.equal(h.session.status().lastError?.code, 'BRK_ERR_UPSTREAM_UNAVAILABLE');
  h.upstream.identityBehaviour = { kind: 'ok' };
  await h.clock.advance(60_000);
  t.equal(h.session.phase, 'ready', 'recovered within one (capped) backoff step');
  const c = await h.session.credentials();
  t.ok(c.expiresAt - h.clock.now() > 50 * MINUTE, 'new credentials after recovery');
  h.session.stop();
});

t.test('backs off exponentially with jitter, capped at one minute, and never serves expired credentials', async (t) => {
  const h = await createHarness({ random: () => 0 });
  h.session.start();
  await h.clock.advance(1000);
  h.upstream.identityBehaviour = { kind: 'fail', error: down };
  const before = h.upstream.calls.getCredentials;
  await h.clock.advance(HOUR + 5 * MINUTE);
  const attempts = h.upstream.callTimes.filter((c) => c.op === 'getCredentials').slice(before).map((c) => c.at);
  const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] as number));
  t.same(gaps.slice(0, 6), [1000, 2000, 4000, 8000, 16000, 32000], 'doubling from one second');
  t.ok(gaps.slice(6).every((g) => g === 60_000), 'then at most a minute apart');
  // Refresh-ahead starts at 30 minutes: 35 minutes of retrying, six ramping up, then one a minute.
  t.ok(attempts.length <= 6 + 35 + 1, `bounded upstream calls: ${attempts.length} in 35 minutes of retrying`);
  // The credentials issued at t=0 expired at 60 min; now it is 61 min.
  await t.rejects(h.session.credentials(), { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', statusCode: 503 });
  h.session.stop();
});

t.test('jitter spreads retries: delays fall between half and all of the exponential step', async (t) => {
  const h = await createHarness({ random: () => 0.999 });
  h.session.start();
  await h.clock.advance(1000);
  h.upstream.identityBehaviour = { kind: 'fail', error: down };
  await h.clock.advance(31 * MINUTE);
  const times = h.upstream.callTimes.filter((c) => c.op === 'getCredentials').map((c) => c.at);
  const gaps = times.slice(2).map((at, i) => at - (times[i + 1] as number));
  t.ok(gaps[0] !== undefined && gaps[0] >= 500 && gaps[0] < 1000, `first retry after ${gaps[0]} ms`);
  h.session.stop();
});

t.test('a refused refresh token means login required: one call, no retry loop, and a new login recovers', async (t) => {
  const h = await createHarness({ idTokenLifetimeMs: 5 * MINUTE });
  h.session.start();
  await h.clock.advance(1000);
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'refresh token revoked (test)') };
  const refreshesBefore = h.upstream.calls.refresh;
  await h.clock.advance(10 * MINUTE);
  t.equal(h.session.phase, 'login-required');
  t.equal(h.upstream.calls.refresh, refreshesBefore + 1, 'exactly one refused call');
  await h.clock.advance(HOUR);
  t.equal(h.upstream.calls.refresh, refreshesBefore + 1, 'no retries while nobody signed in again');
  const error = await h.session.credentials().catch((e: unknown) => e);
  t.type(error, LoginRequiredError);
  t.match((error as Error).message, /Run: cognito-broker login/);
  t.equal((error as LoginRequiredError).statusCode, 503);

  h.upstream.refreshBehaviour = { kind: 'ok' };
  await h.sessions.save(PROFILE, storedSession('refresh-token-two'));
  await h.clock.advance(STORE_POLL_MS + 100);
  t.equal(h.session.phase, 'ready', 'picked up the new sign-in without a restart');
  t.ok((await h.session.credentials()).expiresAt > h.clock.now());
  h.session.stop();
});

t.test('not signed in: a clear error naming the command, then the first login is picked up', async (t) => {
  const h = await createHarness({ signedIn: false });
  h.session.start();
  await h.clock.advance(10);
  t.equal(h.session.phase, 'signed-out');
  await t.rejects(h.session.credentials(), { code: 'BRK_ERR_NOT_SIGNED_IN', message: /cognito-broker login/ });
  t.equal(h.upstream.totalCalls, 0);
  await h.sessions.save(PROFILE, storedSession());
  await h.clock.advance(STORE_POLL_MS);
  t.equal(h.session.phase, 'ready');
  h.session.stop();
});

t.test('a laptop that slept two hours refreshes before it serves', async (t) => {
  const h = await createHarness();
  h.session.start();
  const before = await h.session.credentials();
  await h.clock.sleep(2 * HOUR);
  const after = await h.session.credentials();
  t.not(after.accessKeyId, before.accessKeyId, 'not the credentials from before the sleep');
  t.ok(after.expiresAt - h.clock.now() >= 15 * MINUTE);
  h.session.stop();
});

t.test('a hung identity pool: the request is answered within the wait limit', async (t) => {
  const h = await createHarness({ signedIn: true });
  h.upstream.identityBehaviour = { kind: 'hang' };
  const read = h.session.credentials().then(
    () => 'served',
    (e: { code: string }) => e.code,
  );
  await h.clock.advance(REQUEST_WAIT_MS);
  t.equal(await read, 'BRK_ERR_CREDENTIALS_PENDING', 'a 503 to retry, not a hang');
  h.upstream.release();
  h.session.stop();
});

t.test('a hung identity pool with valid but no longer fresh credentials serves them', async (t) => {
  const h = await createHarness();
  h.session.start();
  await h.clock.advance(1000);
  h.upstream.identityBehaviour = { kind: 'hang' };
  await h.clock.sleep(50 * MINUTE); // 10 minutes left: below the floor, still valid
  const read = h.session.credentials();
  await h.clock.advance(REQUEST_WAIT_MS);
  const c = await read;
  t.ok(c.expiresAt - h.clock.now() > 0, 'still-valid credentials rather than an error');
  h.upstream.release();
  h.session.stop();
});

t.test('the keychain locked at start: degraded with its own error, recovers when unlocked', async (t) => {
  const h = await createHarness();
  h.secrets.available = false;
  h.session.start();
  await h.clock.advance(10);
  t.equal(h.session.phase, 'degraded');
  await t.rejects(h.session.credentials(), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', message: /Unlock/ });
  h.secrets.available = true;
  await h.clock.advance(5000);
  t.equal(h.session.phase, 'ready');
  h.session.stop();
});

t.test('the keychain locked mid-run: the running session keeps refreshing from memory', async (t) => {
  const h = await createHarness();
  h.session.start();
  await h.clock.advance(1000);
  h.secrets.available = false;
  await h.clock.advance(3 * HOUR);
  t.equal(h.session.phase, 'ready');
  t.ok((await h.session.credentials()).expiresAt - h.clock.now() >= 15 * MINUTE);
  h.session.stop();
});

t.test('an unknown IdentityId is dropped and GetId asked again, once', async (t) => {
  const h = await createHarness();
  h.session.start();
  await h.clock.advance(1000);
  let thrown = false;
  const original = h.upstream.getCredentials.bind(h.upstream);
  h.upstream.getCredentials = async (identityId: string, idToken: string) => {
    if (!thrown) {
      thrown = true;
      throw new IdentityPoolError('ResourceNotFoundException', 'identity gone (test)');
    }
    return original(identityId, idToken);
  };
  await h.clock.advance(31 * MINUTE);
  t.equal(h.upstream.calls.getId, 2);
  t.equal(h.session.phase, 'ready');
  h.session.stop();
});

t.test('a rejected request that is not a login problem backs off like any failure', async (t) => {
  const h = await createHarness();
  h.upstream.identityBehaviour = { kind: 'fail', error: () => new UpstreamRejectedError('InvalidParameterException (test)') };
  h.session.start();
  await h.clock.advance(10);
  t.equal(h.session.phase, 'degraded');
  await t.rejects(h.session.credentials(), { code: 'BRK_ERR_UPSTREAM_REJECTED' });
  h.session.stop();
});

t.test('status reports phase, expiry, calls and the last error without secrets', async (t) => {
  const h = await createHarness();
  h.session.start();
  await h.clock.advance(10);
  const status = h.session.status();
  t.match(status, { profile: 'default', phase: 'ready', identityId: /eu-west-1:/, credentialsExpireAt: /Z$/, upstreamCalls: { refresh: 1, getId: 1, getCredentials: 1 } });
  const text = JSON.stringify(status);
  t.notMatch(text, /secret-|session-|refresh-token|id-token|access-token/);
  h.session.stop();
});

t.test('logs transitions without secrets', async (t) => {
  const h = await createHarness();
  h.session.start();
  await h.clock.advance(10);
  h.upstream.identityBehaviour = { kind: 'fail', error: down };
  await h.clock.advance(HOUR);
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'revoked (test)') };
  await h.clock.advance(HOUR);
  const all = h.logs.raw.join('\n');
  t.match(all, /session refreshed/);
  t.match(all, /BRK_ERR_UPSTREAM_UNAVAILABLE/);
  t.match(all, /BRK_ERR_LOGIN_REQUIRED/);
  t.notMatch(all, /refresh-token-one|id-token-|access-token-|secret-\d|session-\d/);
  h.session.stop();
});

t.test('the keychain locked for an hour at start: the session is picked up within 5 s of the unlock', async (t) => {
  const h = await createHarness();
  h.secrets.available = false;
  h.session.start();
  await h.clock.advance(HOUR + 20_000);
  t.equal(h.session.phase, 'degraded');
  t.equal(h.session.status().lastError?.code, 'BRK_ERR_KEYCHAIN_UNAVAILABLE');
  t.equal(h.upstream.totalCalls, 0, 'no call to Cognito without a session');
  h.secrets.available = true;
  await h.clock.advance(STORE_POLL_MS);
  t.equal(h.session.phase, 'ready', 'retries of a keychain read are capped at the keychain polling interval');
  h.session.stop();
});

t.test('the keychain locked while login is required: still login required after the unlock, the refused token is not sent again', async (t) => {
  const h = await createHarness({ idTokenLifetimeMs: 5 * MINUTE });
  h.session.start();
  await h.clock.advance(1000);
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'refresh token revoked (test)') };
  await h.clock.advance(5 * MINUTE);
  t.equal(h.session.phase, 'login-required');
  const refreshes = h.upstream.calls.refresh;
  h.secrets.available = false;
  await h.clock.advance(10 * MINUTE);
  t.equal(h.session.status().lastError?.code, 'BRK_ERR_KEYCHAIN_UNAVAILABLE', 'the locked keychain is reported');
  h.secrets.available = true;
  await h.clock.advance(STORE_POLL_MS);
  t.match(h.session.status(), { phase: 'login-required', lastError: { code: 'BRK_ERR_LOGIN_REQUIRED' } }, 'back to waiting for a sign-in');
  await h.clock.advance(HOUR);
  t.equal(h.upstream.calls.refresh, refreshes, 'the refused refresh token was never sent again');
  h.session.stop();
});

t.test('a rotated refresh token reaches the keychain and replaces the old one for every later refresh', async (t) => {
  const h = await createHarness();
  h.upstream.rotateRefreshTokens = true;
  h.session.start();
  await h.session.credentials();
  const stored = await h.sessions.load(PROFILE);
  t.equal(stored?.refreshToken, 'rotated-refresh-token-1', 'the keychain holds the new token once the first refresh is done');
  await h.clock.advance(2 * HOUR);
  const sent = h.upstream.refreshRequests.map((r) => r.refreshToken);
  const issued = h.upstream.issuedRefreshTokens;
  t.ok(sent.length >= 3, `refreshed ${sent.length} times`);
  t.same(sent, ['refresh-token-one', ...issued.slice(0, -1)], 'each refresh sends the token the one before it returned');
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, issued.at(-1), 'the keychain follows every rotation');
  t.equal(h.session.phase, 'ready');
  h.session.stop();
});

t.test('a keychain that refuses the rotated token: the session goes on with it and the write is retried', async (t) => {
  const h = await createHarness();
  h.upstream.rotateRefreshTokens = true;
  h.session.start();
  await h.session.credentials();
  h.secrets.available = false;
  await h.clock.advance(HOUR);
  t.equal(h.session.phase, 'ready', 'a locked keychain does not stop a rotating session');
  const lastSent = h.upstream.refreshRequests.at(-1)?.refreshToken;
  t.not(lastSent, 'refresh-token-one');
  t.ok(h.logs.lines.some((l) => /could not be written to the keychain/.test(String(l.msg))), 'the refused write is logged');
  t.notOk(h.logs.raw.join('\n').includes('rotated-refresh-token'), 'no refresh token in the log');
  h.secrets.available = true;
  await h.clock.advance(HOUR);
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, h.upstream.issuedRefreshTokens.at(-1), 'written once the keychain is back');
  h.session.stop();
});

/** A keychain whose writes, once `hangWrites` is set, never answer until `release()` (a Secret Service that stopped). */
class HangingStore extends MemoryStore {
  hangWrites = false;
  readonly held: (() => void)[] = [];

  override async set(account: string, value: string): Promise<void> {
    if (!this.hangWrites) return super.set(account, value);
    await new Promise<void>((resolve) => this.held.push(resolve));
    return super.set(account, value);
  }

  release(): void {
    for (const go of this.held.splice(0)) go();
  }
}

t.test('a keychain read that never answers does not stop the timers: the session renews ahead for hours, one read pending at most', async (t) => {
  class HangingReads extends MemoryStore {
    hangReads = false;
    pending = 0;
    override async get(account: string): Promise<string | undefined> {
      if (!this.hangReads) return super.get(account);
      this.pending += 1;
      return new Promise<string | undefined>(() => undefined);
    }
  }
  const secrets = new HangingReads();
  const h = await createHarness({ secrets });
  h.session.start();
  await h.session.credentials();
  secrets.hangReads = true;
  let unfresh = 0;
  for (let minute = 0; minute < 3 * 60; minute += 1) {
    await h.clock.advance(MINUTE);
    if (!h.session.freshCredentials()) unfresh += 1;
  }
  t.equal(unfresh, 0, 'fresh credentials in memory every minute, without waiting for a refresh');
  t.ok(h.upstream.calls.refresh >= 4, `renewed ahead on its timers (${h.upstream.calls.refresh} refreshes)`);
  t.equal(h.session.phase, 'ready');
  t.equal(secrets.pending, 1, 'one hung read, not one per tick');
  h.session.stop();
});

t.test('a keychain write that never answers does not stall rotation: after KEYCHAIN_TIMEOUT_MS the session goes on with the new token in memory', async (t) => {
  const secrets = new HangingStore();
  const h = await createHarness({ secrets });
  h.upstream.rotateRefreshTokens = true;
  h.session.start();
  await h.session.credentials();
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, 'rotated-refresh-token-1');
  secrets.hangWrites = true;
  const before = h.upstream.calls.refresh;
  const lastRefreshAt = () => Date.parse(h.session.status().lastRefreshAt ?? '');

  // Up to the next rotation, in steps shorter than the timeout.
  for (let waited = 0; h.upstream.calls.refresh === before && waited < 2 * HOUR; waited += 1000) await h.clock.advance(1000);
  const rotatedAt = h.upstream.callTimes.filter((c) => c.op === 'refresh').at(-1)?.at ?? NaN;
  t.equal(secrets.held.length, 1, 'the rotated token\'s keychain write hangs');
  await h.clock.advance(rotatedAt + KEYCHAIN_TIMEOUT_MS - 1 - h.clock.now());
  t.ok(lastRefreshAt() < rotatedAt, 'the cycle waits for the keychain up to KEYCHAIN_TIMEOUT_MS');
  await h.clock.advance(1);
  t.equal(lastRefreshAt(), rotatedAt + KEYCHAIN_TIMEOUT_MS, 'then goes on without the write');

  await h.clock.advance(3 * HOUR);
  t.ok(h.upstream.calls.refresh - before >= 3, `${h.upstream.calls.refresh - before} refreshes while the keychain hung: rotation did not stall`);
  t.same(h.upstream.refreshRequests.map((r) => r.refreshToken), ['refresh-token-one', ...h.upstream.issuedRefreshTokens.slice(0, -1)], 'each refresh sent the newest token, held in memory');
  t.equal(h.session.phase, 'ready', 'the still-valid session is kept');
  t.ok((await h.session.credentials()).expiresAt - h.clock.now() >= 15 * MINUTE, 'and served');
  t.equal(secrets.held.length, 1, 'one keychain write at a time: newer tokens wait behind the hung one');
  t.ok(h.logs.lines.some((l) => /did not answer the write of the rotated refresh token in time/.test(String(l.msg))), 'the timeout is logged');
  t.notOk(h.logs.raw.join('\n').includes('rotated-refresh-token'), 'no refresh token in the log');
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, 'rotated-refresh-token-1', 'the keychain still holds the last token it took');

  secrets.hangWrites = false;
  secrets.release();
  await settle();
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, h.upstream.issuedRefreshTokens.at(-1), 'once the keychain answers, the hung write lands and the newest token after it');
  h.session.stop();
});

t.test('a refresh sends what the keychain holds for it: method, user names, client secret, device key', async (t) => {
  const h = await createHarness({ signedIn: false });
  await h.sessions.save(PROFILE, { ...storedSession(), cognitoUsername: 'uuid-alice', clientSecret: 'client-secret-x', deviceKey: 'eu-west-1_device-1' });
  h.session.start();
  await h.session.credentials();
  t.same(h.upstream.refreshRequests[0], { method: undefined, refreshToken: 'refresh-token-one', username: 'alice', cognitoUsername: 'uuid-alice', clientSecret: 'client-secret-x', deviceKey: 'eu-west-1_device-1' });
  h.session.stop();
});

t.test('a logout while serving: within 5 s nothing from the deleted session is served', async (t) => {
  const h = await createHarness();
  h.session.start();
  await h.session.credentials();
  await h.sessions.delete(PROFILE);
  await h.clock.advance(STORE_POLL_MS + 10);
  t.equal(h.session.phase, 'signed-out');
  await t.rejects(h.session.credentials(), { code: 'BRK_ERR_NOT_SIGNED_IN' });
  await t.rejects(h.session.tokens(), { code: 'BRK_ERR_NOT_SIGNED_IN' });
  h.session.stop();
});

t.test('another user signs in while serving: the first user\'s credentials are dropped and the new session refreshed', async (t) => {
  const h = await createHarness();
  h.session.start();
  const alice = await h.session.credentials();
  await h.sessions.save(PROFILE, { ...storedSession('refresh-token-bob'), username: 'bob' });
  await h.clock.advance(STORE_POLL_MS + 10);
  const bob = await h.session.credentials();
  t.not(bob.accessKeyId, alice.accessKeyId);
  t.equal(h.upstream.refreshRequests.at(-1)?.refreshToken, 'refresh-token-bob');
  t.equal(h.upstream.calls.getId, 2, 'a new user gets a new IdentityId');
  h.session.stop();
});

t.test('the same user signs in again while serving: the new refresh token is used, the credentials stay', async (t) => {
  const h = await createHarness();
  h.session.start();
  const before = await h.session.credentials();
  await h.sessions.save(PROFILE, storedSession('refresh-token-two'));
  await h.clock.advance(STORE_POLL_MS + 10);
  t.equal((await h.session.credentials()).accessKeyId, before.accessKeyId, 'no refresh just for a new sign-in');
  t.equal(h.upstream.totalCalls, 3);
  await h.clock.advance(HOUR);
  t.equal(h.upstream.refreshRequests.at(-1)?.refreshToken, 'refresh-token-two');
  h.session.stop();
});

t.test('after a refused refresh token, a sign-in by another user: nothing of the first user is served, the new user gets an IdentityId of their own', async (t) => {
  const h = await createHarness({ idTokenLifetimeMs: 5 * MINUTE });
  h.session.start();
  const alice = await h.session.credentials();
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'refresh token revoked (test)') };
  await h.clock.advance(5 * MINUTE);
  t.equal(h.session.phase, 'login-required');
  t.equal(await h.session.credentials(), alice, 'what was issued is served until a new sign-in');
  h.upstream.refreshBehaviour = { kind: 'ok' };
  await h.sessions.save(PROFILE, { ...storedSession('refresh-token-bob'), username: 'bob' });
  await h.clock.advance(STORE_POLL_MS + 10);
  const bob = await h.session.credentials();
  t.equal(h.session.phase, 'ready');
  t.not(bob.accessKeyId, alice.accessKeyId, 'alice\'s credentials are not served to bob');
  t.equal(bob.identityId, identityOf('id-token-0-bob'), 'bob\'s own IdentityId');
  t.match((await h.session.tokens()).idToken, /-bob$/, 'bob\'s ID token');
  t.equal(h.upstream.calls.getId, 2);
  h.session.stop();
});

t.test('the IdentityId is kept with the session in the keychain: the next start skips GetId', async (t) => {
  const first = await createHarness();
  first.session.start();
  const before = await first.session.credentials();
  await settle();
  t.same((await first.sessions.load(PROFILE))?.identity, { identityPoolId: PROFILE.identityPoolId, identityId: before.identityId }, 'written after the first GetId');
  t.equal((await first.sessions.load(PROFILE))?.refreshToken, 'refresh-token-one', 'the rest of the session as it was');
  first.session.stop();

  const restarted = await createHarness({ secrets: first.secrets, signedIn: false });
  restarted.session.start();
  const after = await restarted.session.credentials();
  t.equal(after.identityId, before.identityId);
  t.same(restarted.upstream.calls, { refresh: 1, getId: 0, getCredentials: 1 }, 'two Cognito calls instead of three');
  restarted.session.stop();

  const otherPool = await createHarness({ secrets: first.secrets, signedIn: false, profile: { ...PROFILE, identityPoolId: 'eu-west-1:99999999-2222-3333-4444-555555555555' } });
  await otherPool.session.credentials();
  t.equal(otherPool.upstream.calls.getId, 1, 'an IdentityId of another identity pool is not used');
  otherPool.session.stop();
});

t.test('a kept IdentityId the pool no longer knows, or of another login, is replaced by GetId and the keychain follows', async (t) => {
  for (const [kept, fault] of [
    ['eu-west-1:99999999-9999-9999-9999-999999999999', 'ResourceNotFoundException'],
    [identityOf('id-token-0-bob'), 'NotAuthorizedException'],
  ] as const) {
    const h = await createHarness({ signedIn: false });
    await h.sessions.save(PROFILE, { ...storedSession(), identity: { identityPoolId: PROFILE.identityPoolId, identityId: kept } });
    const original = h.upstream.getCredentials.bind(h.upstream);
    h.upstream.getCredentials = async (identityId: string, idToken: string) => {
      if (identityId === kept && fault === 'ResourceNotFoundException') throw new IdentityPoolError(fault, `Identity '${kept}' not found.`);
      return original(identityId, idToken);
    };
    const credentials = await h.session.credentials();
    t.equal(credentials.identityId, identityOf('id-token-0-alice'), `${fault}: this login's IdentityId`);
    t.equal(h.upstream.calls.getId, 1, `${fault}: one GetId`);
    await settle();
    t.equal((await h.sessions.load(PROFILE))?.identity?.identityId, credentials.identityId, `${fault}: the keychain holds the new one`);
    h.session.stop();
  }
});

t.test('a keychain that refuses the IdentityId write costs nothing but a GetId at the next start', async (t) => {
  class WriteRefusingStore extends MemoryStore {
    override async set(): Promise<void> {
      throw new KeychainUnavailableError('writes refused (test)');
    }
  }
  const secrets = new WriteRefusingStore(new Map([[`profile:${PROFILE.name}`, JSON.stringify(storedSession())]]));
  for (const start of ['first', 'second']) {
    const h = await createHarness({ secrets, signedIn: false });
    h.session.start();
    await h.session.credentials();
    await settle();
    t.equal(h.session.phase, 'ready', `${start} start: served`);
    t.same(h.upstream.calls, { refresh: 1, getId: 1, getCredentials: 1 }, `${start} start: GetId, as nothing was kept`);
    t.ok(h.logs.lines.some((l) => l.level === 40 && /could not be written to the keychain/.test(String(l.msg))), `${start} start: the refused write is a warning`);
    h.session.stop();
  }
  t.equal((await new SessionStore(secrets).load(PROFILE))?.refreshToken, 'refresh-token-one', 'the session is untouched');
});

// --- the keychain mirror: compare-and-set, logout and login during a pending write, shutdown, the refresh lock ---

/** A keychain whose writes can be refused (reads and deletes still work), keeping every value written. */
class RefusingStore extends MemoryStore {
  refuseWrites = false;
  readonly written: string[] = [];
  #external = false;
  override async set(account: string, value: string): Promise<void> {
    if (this.#external) return super.set(account, value);
    if (this.refuseWrites) throw new KeychainUnavailableError('writes refused (test)');
    this.written.push(value);
    return super.set(account, value);
  }

  /** A write by another process (`login`, another command), which the keychain takes. */
  async byAnotherProcess(write: () => Promise<void>): Promise<void> {
    this.#external = true;
    try {
      await write();
    } finally {
      this.#external = false;
    }
  }
}

/** A rotating session whose latest rotated token the keychain refused: held in memory only, its write pending. */
async function pendingRotation(t: Test) {
  const secrets = new RefusingStore();
  const h = await createHarness({ secrets });
  h.upstream.rotateRefreshTokens = true;
  h.session.start();
  await h.session.credentials();
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, 'rotated-refresh-token-1', 'the first rotation reached the keychain');
  secrets.refuseWrites = true;
  const refreshes = h.upstream.calls.refresh;
  while (h.upstream.calls.refresh === refreshes) await h.clock.advance(MINUTE);
  const held = h.upstream.issuedRefreshTokens.at(-1) as string;
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, 'rotated-refresh-token-1', 'the keychain refused the next one');
  const writesBefore = secrets.written.length;
  const writtenSince = () => secrets.written.slice(writesBefore).map((v) => (JSON.parse(v) as { refreshToken: string }).refreshToken);
  const before = await h.session.credentials();
  return { h, secrets, before, held, writtenSince };
}

t.test('logout while a rotated token waits to be written: signed out within STORE_POLL_MS, the entry never written back, the held token revoked', async (t) => {
  const { h, secrets, held, writtenSince } = await pendingRotation(t);
  await h.sessions.delete(PROFILE);
  const loggedOutAt = h.clock.now();
  while (h.session.phase !== 'signed-out' && h.clock.now() - loggedOutAt <= STORE_POLL_MS) await h.clock.advance(100);
  t.equal(h.session.phase, 'signed-out', `signed out ${h.clock.now() - loggedOutAt} ms after the logout`);
  await t.rejects(h.session.credentials(), { code: 'BRK_ERR_NOT_SIGNED_IN' });
  await t.rejects(h.session.tokens(), { code: 'BRK_ERR_NOT_SIGNED_IN' });
  t.same(h.revoked, [held], 'the token the session held is revoked (logout revoked the one in the keychain)');

  secrets.refuseWrites = false;
  await h.clock.advance(2 * HOUR);
  t.equal(await h.sessions.load(PROFILE), undefined, 'the deleted entry stays deleted once the keychain takes writes again');
  t.same(writtenSince(), [], 'nothing was written back');
  t.ok(h.logs.lines.some((l) => l.revoked === true && /never reached the keychain/.test(String(l.msg))), 'the revocation is logged');
  t.notOk(h.logs.raw.join('\n').includes('rotated-refresh-token'), 'without the token');
  await h.session.stop();
});

t.test('a new login of the same user while a rotated token waits to be written: the login is never overwritten and is used from then on', async (t) => {
  const { h, secrets, before, held, writtenSince } = await pendingRotation(t);
  await secrets.byAnotherProcess(() => h.sessions.save(PROFILE, { ...storedSession('refresh-token-relogin'), signedInAt: h.clock.now() }));
  await h.clock.advance(STORE_POLL_MS);
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, 'refresh-token-relogin', 'the new login is in the keychain');
  t.equal((await h.session.credentials()).accessKeyId, before.accessKeyId, 'the same user: the credentials stay');
  t.same(h.revoked, [held], 'the dropped rotated token is revoked');

  secrets.refuseWrites = false;
  await h.clock.advance(2 * HOUR);
  const sent = h.upstream.refreshRequests.map((r) => r.refreshToken);
  t.ok(sent.includes('refresh-token-relogin'), 'the next refresh sent the new login\'s token');
  t.notOk(sent.includes(held), 'the dropped one was never sent');
  t.notOk(writtenSince().includes(held), 'the dropped token was never written');
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, h.upstream.issuedRefreshTokens.at(-1), 'the keychain follows the new login\'s rotations');
  t.equal(h.session.phase, 'ready');
  await h.session.stop();
});

t.test('another user signs in while a rotated token waits to be written: the first user\'s tokens and credentials are dropped at once, never written back', async (t) => {
  const { h, secrets, before, held, writtenSince } = await pendingRotation(t);
  await secrets.byAnotherProcess(() => h.sessions.save(PROFILE, { ...storedSession('refresh-token-bob'), username: 'bob', signedInAt: h.clock.now() }));
  await h.clock.advance(STORE_POLL_MS);
  const bob = await h.session.credentials();
  t.not(bob.accessKeyId, before.accessKeyId, 'alice\'s credentials are not served');
  t.equal(bob.identityId, identityOf('id-token-0-bob'), 'bob\'s own IdentityId');
  t.match((await h.session.tokens()).idToken, /-bob$/, 'bob\'s ID token');
  t.same(h.revoked, [held], 'alice\'s rotated token, known to this process alone, is revoked');
  secrets.refuseWrites = false;
  await h.clock.advance(HOUR);
  t.notOk(writtenSince().includes(held), 'alice\'s token was never written over bob\'s login');
  t.match(await h.sessions.load(PROFILE), { username: 'bob' });
  await h.session.stop();
});

t.test('another process rotated the same sign-in: its token is taken up, not mistaken for a new login, and nothing is revoked', async (t) => {
  const { h, secrets, before } = await pendingRotation(t);
  const stored = await h.sessions.load(PROFILE);
  await secrets.byAnotherProcess(() => h.sessions.save(PROFILE, { ...(stored as StoredSession), refreshToken: 'rotated-by-another-process' }));
  await h.clock.advance(STORE_POLL_MS);
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, 'rotated-by-another-process', 'not overwritten by the token this process held');
  t.same(h.revoked, [], 'a successor of the same sign-in is not ended');
  t.equal((await h.session.credentials()).accessKeyId, before.accessKeyId);
  await h.clock.advance(HOUR);
  t.ok(h.upstream.refreshRequests.some((r) => r.refreshToken === 'rotated-by-another-process'), 'the next refresh sent it');
  await h.session.stop();
});

t.test('a refused write is retried at the next look at the keychain (within STORE_POLL_MS), not at the next refresh', async (t) => {
  const { h, secrets, held } = await pendingRotation(t);
  const refreshes = h.upstream.calls.refresh;
  secrets.refuseWrites = false;
  await h.clock.advance(STORE_POLL_MS);
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, held, 'the rotated token is in the keychain');
  t.equal(h.upstream.calls.refresh, refreshes, 'without another refresh');
  await h.session.stop();
});

t.test('stop() makes one last attempt to write a rotated token held only in memory, and gives up after KEYCHAIN_TIMEOUT_MS', async (t) => {
  const { h, secrets, held } = await pendingRotation(t);
  secrets.refuseWrites = false;
  await h.session.stop();
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, held, 'written at stop');
  t.ok(h.logs.lines.some((l) => /stopping: the session held in memory is written to the keychain/.test(String(l.msg))));

  const hanging = new HangingStore();
  const g = await createHarness({ secrets: hanging });
  g.upstream.rotateRefreshTokens = true;
  g.session.start();
  await g.session.credentials();
  hanging.hangWrites = true;
  const refreshes = g.upstream.calls.refresh;
  while (g.upstream.calls.refresh === refreshes) await g.clock.advance(MINUTE);
  await g.clock.advance(KEYCHAIN_TIMEOUT_MS);
  let stopped = false;
  const stopping = g.session.stop().then(() => (stopped = true));
  await g.clock.advance(KEYCHAIN_TIMEOUT_MS - 1);
  t.notOk(stopped, 'stop() waits for the keychain');
  await g.clock.advance(1);
  await stopping;
  t.ok(stopped, `but no longer than ${KEYCHAIN_TIMEOUT_MS} ms`);
  hanging.hangWrites = false;
  hanging.release();
});

t.test('two commands without a daemon, side by side, spend a rotating refresh token once and share the tokens through the keychain', async (t) => {
  const lock = new MemoryLock();
  const a = await createHarness({ latencyMs: 50, lock, shareTokens: true });
  a.upstream.rotateRefreshTokens = true;
  const b = await createHarness({ like: a, secrets: a.secrets, signedIn: false, lock, shareTokens: true });
  const reads = [a.session.tokens(), b.session.tokens(), a.session.credentials(), b.session.credentials()];
  await a.clock.advance(1000);
  const [ta, tb, ca, cb] = (await Promise.all(reads)) as [UserPoolTokens, UserPoolTokens, AwsCredentials, AwsCredentials];
  t.equal(a.upstream.calls.refresh, 1, 'one refresh between the two');
  t.equal(tb.idToken, ta.idToken, 'the second took up the first one\'s ID token');
  t.equal(cb.identityId, ca.identityId);
  t.equal(lock.maxHolders, 1, 'never two holders at once');
  const stored = await a.sessions.load(PROFILE);
  t.equal(stored?.refreshToken, 'rotated-refresh-token-1', 'the keychain holds the rotated token');
  t.equal(stored?.tokens?.idToken, ta.idToken, 'and the tokens beside it');
  t.same(a.revoked, [], 'nothing revoked');

  const c = await createHarness({ like: a, secrets: a.secrets, signedIn: false, lock, shareTokens: true });
  const later = c.session.tokens();
  await a.clock.advance(1000);
  t.equal((await later).idToken, ta.idToken);
  t.equal(a.upstream.calls.refresh, 1, 'a later command within the ID token\'s lifetime does not refresh either');
  await Promise.all([a.session.stop(), b.session.stop(), c.session.stop()]);
});

t.test('a daemon\'s session (no token sharing) keeps no tokens in the keychain and ignores those a command left', async (t) => {
  const h = await createHarness({ signedIn: false, lock: new MemoryLock() });
  h.upstream.rotateRefreshTokens = true;
  const expiresAt = h.clock.now() + HOUR;
  await h.sessions.save(PROFILE, { ...storedSession(), tokens: { idToken: 'id-token-left-by-a-command', accessToken: 'access-token-left', issuedAt: h.clock.now(), expiresAt } });
  h.session.start();
  t.not((await h.session.tokens()).idToken, 'id-token-left-by-a-command', 'refreshed itself');
  t.equal(h.upstream.calls.refresh, 1);
  const stored = await h.sessions.load(PROFILE);
  t.equal(stored?.refreshToken, 'rotated-refresh-token-1');
  t.equal(stored?.tokens, undefined, 'no tokens written, the stale ones dropped');
  await h.session.stop();
});

t.test('firstRefresh: how the first refresh ended, even after the backoff retried successfully meanwhile (what a one-shot command reports)', async (t) => {
  const h = await createHarness();
  let failures = 1;
  const original = h.upstream.getCredentials.bind(h.upstream);
  h.upstream.getCredentials = async (identityId: string, idToken: string) => {
    if (failures-- > 0) throw new UpstreamRejectedError('InvalidParameterException (test)');
    return original(identityId, idToken);
  };
  h.session.start();
  await h.clock.advance(5000);
  t.equal(h.session.phase, 'ready', 'the backoff retried and succeeded');
  t.match(await h.session.firstRefresh(), { code: 'BRK_ERR_UPSTREAM_REJECTED' });
  await h.session.stop();

  const never = await createHarness();
  t.equal(await never.session.firstRefresh(), undefined, 'never started: one refresh now, which succeeds');
  t.equal(never.session.phase, 'ready');
  await never.session.stop();
});

t.test('the refresh lock is given back only once the rotated token is written: a command waiting for it never spends the old one', async (t) => {
  /** A keychain whose writes take 200 ms (fake time). */
  class SlowWrites extends MemoryStore {
    clock: FakeClock | undefined;
    override async set(account: string, value: string): Promise<void> {
      await new Promise<void>((resolve) => this.clock?.setTimeout(resolve, 200));
      return super.set(account, value);
    }
  }
  const lock = new MemoryLock();
  const secrets = new SlowWrites([[`profile:${PROFILE.name}`, JSON.stringify(storedSession())]]);
  const a = await createHarness({ secrets, signedIn: false, lock, shareTokens: true });
  secrets.clock = a.clock;
  a.upstream.rotateRefreshTokens = true;
  const b = await createHarness({ like: a, secrets, signedIn: false, lock, shareTokens: true });
  const reads = [a.session.tokens(), b.session.tokens()];
  await a.clock.advance(2000);
  const [ta, tb] = await Promise.all(reads);
  t.equal(a.upstream.calls.refresh, 1, 'one refresh');
  t.same(a.upstream.refreshRequests.map((r) => r.refreshToken), ['refresh-token-one'], 'the old token sent once');
  t.equal(tb?.idToken, ta?.idToken);
  await Promise.all([a.session.stop(), b.session.stop()]);
});
