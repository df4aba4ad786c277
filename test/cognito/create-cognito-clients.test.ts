import { createServer } from 'node:http';
import t from 'tap';
import { connectionRetryStrategy, createCognitoClients, UPSTREAM_MAX_ATTEMPTS, UPSTREAM_RETRY_DELAY_MS } from '../../src/cognito/create-cognito-clients.js';
import type { ProfileConfig } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load-config.js';
import { closeServer, listen } from '../../testkit/http.js';
import { idTokenFor, startScriptedServer } from '../support/scripted-oauth-server.js';

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

t.test('onRequest is told as each request is about to go out, to the user pool (the SDK) or the token endpoint', async (t) => {
  const poolId = 'us-east-1_Pool1';
  const tokens = { id_token: idTokenFor(`https://cognito-idp.us-east-1.amazonaws.com/${poolId}`, 'client1'), access_token: 'a' };
  const server = await startScriptedServer((request) => request.path === '/oauth2/token'
    ? { body: tokens }
    : { contentType: 'application/x-amz-json-1.1', body: { AuthenticationResult: { IdToken: tokens.id_token, AccessToken: 'a', ExpiresIn: 3600 } } });
  t.teardown(() => server.close());
  const profile = parseConfig('/c.json', JSON.stringify({
    profiles: { p: { region: 'us-east-1', userPoolId: poolId, clientId: 'client1', identityPoolId: 'us-east-1:0b5f2f5e-1111', hostedUi: { domain: server.url, redirectPort: 1 }, endpoints: { cognitoIdp: server.url } } },
  })).profiles.p as ProfileConfig;
  const seenByServer: number[] = [];
  const clients = createCognitoClients(profile, Date.now, { onRequest: () => seenByServer.push(server.requests.length) });
  t.teardown(() => clients.destroy());

  await clients.refresher.refresh({ method: 'password', refreshToken: 'r' });
  t.same(seenByServer, [0], 'told once, before the user pool had the request');
  t.match(server.requests[0]?.headers['x-amz-target'], /GetTokensFromRefreshToken$/);
  await clients.refresher.refresh({ method: 'browser', refreshToken: 'r' });
  t.same(seenByServer, [0, 1], 'and before the token endpoint had its request');
});

t.test('onRequest is told for each attempt: a reset connection the SDK tries again', async (t) => {
  const idToken = idTokenFor('https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1', 'client1');
  let received = 0;
  const server = createServer((req, res) => {
    received += 1;
    if (received === 1) {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ AuthenticationResult: { IdToken: idToken, AccessToken: 'a', ExpiresIn: 3600 } }));
  });
  const { url } = await listen(server, '127.0.0.1', 0);
  t.teardown(() => closeServer(server));
  const profile = parseConfig('/c.json', JSON.stringify({
    profiles: { p: { region: 'us-east-1', userPoolId: 'us-east-1_Pool1', clientId: 'client1', identityPoolId: 'us-east-1:0b5f2f5e-1111', endpoints: { cognitoIdp: url } } },
  })).profiles.p as ProfileConfig;
  const seenByServer: number[] = [];
  const clients = createCognitoClients(profile, Date.now, { onRequest: () => seenByServer.push(received) });
  t.teardown(() => clients.destroy());
  await clients.refresher.refresh({ method: 'password', refreshToken: 'r' });
  t.same(seenByServer, [0, 1], 'told before the first attempt and again before the second');
});
