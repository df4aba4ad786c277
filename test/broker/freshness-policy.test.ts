import t from 'tap';
import { backoffDelay, BACKOFF_MAX_MS } from '../../src/broker/backoff.js';
import { CREDENTIALS_POLICY, ID_TOKEN_POLICY, isFresh, isUsable, refreshAt, scaledPolicy } from '../../src/broker/freshness-policy.js';

const MIN = 60_000;

t.test('one-hour credentials: renew at 30 min left, serve down to 15, while failing down to 1', async (t) => {
  const c = { issuedAt: 0, expiresAt: 60 * MIN };
  t.equal(refreshAt(c, CREDENTIALS_POLICY), 30 * MIN);
  t.ok(isFresh(c, CREDENTIALS_POLICY, 45 * MIN));
  t.notOk(isFresh(c, CREDENTIALS_POLICY, 45 * MIN + 1));
  t.ok(isUsable(c, CREDENTIALS_POLICY, 59 * MIN));
  t.notOk(isUsable(c, CREDENTIALS_POLICY, 59 * MIN + 1));
  t.notOk(isUsable(c, CREDENTIALS_POLICY, 61 * MIN), 'never expired');
});

t.test('one-hour ID tokens: renew at 15 min left, serve down to 5, while failing down to 30 s', async (t) => {
  const token = { issuedAt: 0, expiresAt: 60 * MIN };
  t.equal(refreshAt(token, ID_TOKEN_POLICY), 45 * MIN);
  t.ok(isFresh(token, ID_TOKEN_POLICY, 55 * MIN));
  t.notOk(isFresh(token, ID_TOKEN_POLICY, 55 * MIN + 1));
  t.ok(isUsable(token, ID_TOKEN_POLICY, 59.5 * MIN), 'a 14-minute user-pool outage from the renewal point goes unnoticed');
  t.notOk(isUsable(token, ID_TOKEN_POLICY, 59.5 * MIN + 1));
});

t.test('margins scale with short lifetimes', async (t) => {
  t.same(scaledPolicy(CREDENTIALS_POLICY, 60_000), { refreshAheadMs: 30_000, minRemainingMs: 15_000, hardMinRemainingMs: 5_000 });
  t.same(scaledPolicy(ID_TOKEN_POLICY, 5 * MIN), { refreshAheadMs: 150_000, minRemainingMs: 75_000, hardMinRemainingMs: 25_000 });
  t.same(scaledPolicy(ID_TOKEN_POLICY, 24 * 60 * MIN), ID_TOKEN_POLICY, 'long lifetimes keep the full margins');
});

t.test('backoff doubles from one second, is capped, and jitter only shortens it', async (t) => {
  t.same([1, 2, 3, 4].map((n) => backoffDelay(n, () => 0)), [1000, 2000, 4000, 8000]);
  t.equal(backoffDelay(50, () => 0), BACKOFF_MAX_MS);
  t.equal(backoffDelay(50, () => 0.999_999), Math.round(BACKOFF_MAX_MS * (1 - 0.5 * 0.999_999)));
  t.equal(backoffDelay(10, () => 0, 5_000), 5_000, 'a lower cap for short sessions');
  t.equal(backoffDelay(10, () => 0, 10), 1_000, 'but never below the base');
});
