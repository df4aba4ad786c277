import t from 'tap';
import {
  AUTH_FAILURE_BASE_DELAY_MS,
  AUTH_FAILURE_HALF_LIFE_MS,
  AUTH_FAILURE_MAX_DELAY_MS,
  AUTH_FAILURE_MAX_WAITING,
  AuthFailureThrottle,
} from '../../src/server/auth-failure-throttle.js';
import { listenApp, TOKEN } from '../support/listening-app.js';
import { getRequest, rawRequest } from '../support/raw-http.js';

t.test('each recent failure doubles the delay, from a few ms up to 1 s', async (t) => {
  let now = 0;
  const throttle = new AuthFailureThrottle(() => now);
  t.equal(throttle.delayMs(), 0, 'no failures, no delay');
  const delays = Array.from({ length: 12 }, () => throttle.recordFailure());
  t.equal(delays[0], AUTH_FAILURE_BASE_DELAY_MS, `first failure: ${AUTH_FAILURE_BASE_DELAY_MS} ms`);
  t.same(delays.slice(0, 9), [2, 4, 8, 16, 32, 64, 128, 256, 512]);
  t.equal(delays[9], AUTH_FAILURE_MAX_DELAY_MS, 'the tenth reaches the cap');
  t.equal(Math.max(...delays), AUTH_FAILURE_MAX_DELAY_MS, 'never above the cap');
  now += AUTH_FAILURE_HALF_LIFE_MS;
  t.ok(throttle.delayMs() < 100, `halves its score every ${AUTH_FAILURE_HALF_LIFE_MS} ms (now ${throttle.delayMs()} ms)`);
  now += 4 * AUTH_FAILURE_HALF_LIFE_MS;
  t.ok(throttle.recordFailure() <= 4, 'a few minutes later a failure is slowed by a few ms again');
});

t.test('a flood of failures decays as fast as a burst, and costs no memory per failure', async (t) => {
  let now = 0;
  const throttle = new AuthFailureThrottle(() => now);
  const fields = Object.keys(throttle).length;
  for (let i = 0; i < 1_000_000; i++) {
    throttle.recordFailure();
    if (i % 1000 === 0) now += 1;
  }
  t.equal(throttle.delayMs(), AUTH_FAILURE_MAX_DELAY_MS);
  t.equal(Object.keys(throttle).length, fields, 'the same fields after a million failures: no per-client state');
  now += 6 * AUTH_FAILURE_HALF_LIFE_MS;
  t.ok(throttle.recordFailure() <= 4, `back to a few ms three minutes after a million failures (${throttle.delayMs()} ms)`);
});

t.test('waiting is a timer: the event loop keeps running, and at most a fixed number wait at once', async (t) => {
  const throttle = new AuthFailureThrottle();
  const started = performance.now();
  const long = throttle.wait(300);
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(performance.now() - started < 200, 'a 10 ms timer fires while a failure waits 300 ms');
  t.equal(await long, true);

  const waits = Array.from({ length: AUTH_FAILURE_MAX_WAITING }, () => throttle.wait(100));
  t.equal(throttle.waiting, AUTH_FAILURE_MAX_WAITING);
  const before = performance.now();
  t.equal(await throttle.wait(100), false, 'one more is refused at once');
  t.ok(performance.now() - before < 50, 'without waiting');
  t.ok((await Promise.all(waits)).every(Boolean));
  t.equal(throttle.waiting, 0, 'nothing left waiting');
});

t.test('over a socket: after repeated bad tokens a bad request takes far longer, a good one stays fast', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  const good = getRequest('/credentials', [server.host, `Authorization: ${TOKEN}`]);
  const bad = (i: number) => getRequest('/credentials', [server.host, `Authorization: wrong-${i}`]);

  const baseline = await rawRequest(server.port, good);
  t.equal(baseline.status, 200);
  const first = await rawRequest(server.port, bad(0));
  t.equal(first.status, 401);
  t.ok(first.ms < 150, `the first bad request is answered quickly (${first.ms.toFixed(1)} ms)`);
  for (let i = 1; i < 10; i++) t.equal((await rawRequest(server.port, bad(i))).status, 401);

  // The next bad one waits ~1 s; a good one sent while it waits is not held up.
  const slowBad = rawRequest(server.port, bad(10));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const goodMeanwhile = await rawRequest(server.port, good);
  const after = await slowBad;
  t.equal(after.status, 401);
  t.ok(after.ms >= 0.7 * AUTH_FAILURE_MAX_DELAY_MS, `after 10 failures a bad request takes ${after.ms.toFixed(0)} ms (first: ${first.ms.toFixed(1)} ms)`);
  t.equal(goodMeanwhile.status, 200);
  t.ok(goodMeanwhile.ms < 150, `a good request while it waits: ${goodMeanwhile.ms.toFixed(1)} ms`);
  const goodAfter = await rawRequest(server.port, good);
  t.equal(goodAfter.status, 200);
  t.ok(goodAfter.ms < 150, `a good request right after: ${goodAfter.ms.toFixed(1)} ms`);
  const health = await rawRequest(server.port, getRequest('/healthz', [server.host]));
  t.equal(health.status, 200);
  t.ok(health.ms < 150, '/healthz is not slowed either');
  t.comment(`auth slowdown: first bad ${first.ms.toFixed(1)} ms, 11th bad ${after.ms.toFixed(0)} ms, good meanwhile ${goodMeanwhile.ms.toFixed(1)} ms, good after ${goodAfter.ms.toFixed(1)} ms (baseline ${baseline.ms.toFixed(1)} ms)`);

  const log = server.logs.raw.join('\n');
  t.match(log, /missing or wrong Authorization/, 'failures are logged');
  t.notMatch(log, /wrong-\d/, 'without the presented values');
  t.notMatch(log, TOKEN);
  t.ok(server.logs.lines.filter((l) => /missing or wrong/.test(String(l.msg))).length <= 2, 'rate-limited: one line, not eleven');
});

t.test('over a socket: a flood of concurrent bad requests holds at most a fixed number; the rest are closed unanswered', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  const flood = AUTH_FAILURE_MAX_WAITING + 100;
  // Warm the score up so each waits the full second.
  await Promise.all(Array.from({ length: 10 }, () => rawRequest(server.port, getRequest('/token', [server.host, 'Authorization: x']))));
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: flood }, (_, i) => rawRequest(server.port, getRequest('/token', [server.host, `Authorization: flood-${i}`]), { timeoutMs: 5_000 })),
  );
  const answered = results.filter((r) => r.status === 401).length;
  const closed = results.filter((r) => r.status === undefined && (r.end === 'closed' || r.end === 'reset')).length;
  t.equal(answered + closed, flood, `every request got a 401 or a closed connection (${answered} answered, ${closed} closed)`);
  t.ok(answered <= AUTH_FAILURE_MAX_WAITING + 10, `at most about ${AUTH_FAILURE_MAX_WAITING} waited`);
  t.ok(closed >= 50, 'the excess was closed at once');
  t.ok(results.every((r) => r.status !== 200 && (r.status ?? 0) < 500), 'no success, no 5xx');
  const floodMs = performance.now() - started;
  t.ok(floodMs < 4_000, 'the flood is over within the cap of a second or so');
  t.comment(`flood of ${flood} concurrent bad requests: ${answered} answered 401 after waiting, ${closed} closed at once, ${floodMs.toFixed(0)} ms`);
  t.same(server.logs.lines.filter((l) => (l.level as number) >= 50), [], 'no error logged for the closed connections');
  const good = await rawRequest(server.port, getRequest('/credentials', [server.host, `Authorization: ${TOKEN}`]));
  t.equal(good.status, 200, 'a good request is served right after the flood');
  t.ok(good.ms < 150, `in ${good.ms.toFixed(1)} ms`);
});
