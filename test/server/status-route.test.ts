import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { buildApp } from '../../src/server/build-app.js';
import { EndpointAuth } from '../../src/server/endpoint-auth.js';
import { createLogger } from '../../src/log/create-logger.js';
import { createHarness, LogCapture } from '../support/session-harness.js';

const TOKEN = 'b'.repeat(64);

t.test('GET /status: every profile\'s state and counts, behind the token, nothing secret', async (t) => {
  const h = await createHarness();
  const broker = new Broker({ defaultProfile: 'default' }, [h.session]);
  const app = buildApp({ broker, auth: new EndpointAuth(TOKEN, ['default']), logger: createLogger({ level: 'silent', destination: new LogCapture() }) });
  h.session.start();
  await h.clock.advance(10);
  t.equal((await app.inject({ method: 'GET', url: '/status' })).statusCode, 401);
  const res = await app.inject({ method: 'GET', url: '/status', headers: { authorization: TOKEN } });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/json');
  t.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  t.match(body, { defaultProfile: 'default', pid: process.pid, profiles: [{ profile: 'default', phase: 'ready', identityId: /^eu-west-1:/, upstreamCalls: { refresh: 1, getId: 1, getCredentials: 1 } }] });
  const credentials = await h.session.credentials();
  const tokens = await h.session.tokens();
  for (const secret of [credentials.secretAccessKey, credentials.sessionToken, credentials.accessKeyId, tokens.idToken, tokens.accessToken, 'refresh-token-one']) {
    t.notOk(res.body.includes(secret), 'no secret in /status');
  }
  h.session.stop();
  await app.close();
});
