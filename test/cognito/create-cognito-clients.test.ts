import t from 'tap';
import { connectionRetryStrategy, UPSTREAM_MAX_ATTEMPTS, UPSTREAM_RETRY_DELAY_MS } from '../../src/cognito/create-cognito-clients.js';

const first = await connectionRetryStrategy.acquireInitialRetryToken();

t.test('a connection that never got an answer (reset, timeout) is retried once by the SDK', async (t) => {
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', $metadata: {} });
  const retry = await connectionRetryStrategy.refreshRetryTokenForRetry(first, { errorType: 'TRANSIENT', error: reset });
  t.same([retry.getRetryCount(), retry.getRetryDelay()], [1, UPSTREAM_RETRY_DELAY_MS]);
  await t.rejects(connectionRetryStrategy.refreshRetryTokenForRetry(retry, { errorType: 'TRANSIENT', error: reset }), 'not twice');
  t.equal(UPSTREAM_MAX_ATTEMPTS, 2);
});

t.test('answered failures (throttling, 5xx) are left to the broker\'s backoff', async (t) => {
  const answered = (status: number) => ({ $metadata: { httpStatusCode: status } });
  await t.rejects(connectionRetryStrategy.refreshRetryTokenForRetry(first, { errorType: 'THROTTLING', error: answered(400) }), 'throttling');
  await t.rejects(connectionRetryStrategy.refreshRetryTokenForRetry(first, { errorType: 'TRANSIENT', error: answered(503) }), 'a 503');
  await t.rejects(connectionRetryStrategy.refreshRetryTokenForRetry(first, { errorType: 'SERVER_ERROR', error: answered(500) }), 'a 500');
  await t.rejects(connectionRetryStrategy.refreshRetryTokenForRetry(first, { errorType: 'CLIENT_ERROR', error: answered(400) }), 'a refusal');
});
