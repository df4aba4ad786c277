import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { buildApp } from '../../src/server/build-app.js';
import { createLogger } from '../../src/log/create-logger.js';
import { createHarness, LogCapture } from '../support/session-harness.js';
import { LoginRequiredError } from '../../src/errors.js';

const TOKEN = 'a'.repeat(64);

async function setup(options: Parameters<typeof createHarness>[0] = {}) {
  const h = await createHarness(options);
  const broker = new Broker({ defaultProfile: 'default' }, [h.session]);
  const logs = new LogCapture();
  const app = buildApp({ broker, authToken: TOKEN, logger: createLogger({ level: 'trace', destination: logs }) });
  h.session.start();
  await h.clock.advance(10);
  return { h, app, logs };
}

const auth = { authorization: TOKEN };

t.test('GET /credentials returns the four fields the SDKs require, Expiration in RFC 3339 with Z', async (t) => {
  const { h, app } = await setup();
  const res = await app.inject({ method: 'GET', url: '/credentials', headers: auth });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/json');
  t.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  t.same(Object.keys(body).sort(), ['AccessKeyId', 'Expiration', 'SecretAccessKey', 'Token']);
  t.match(body.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.equal(Date.parse(body.Expiration), (await h.session.credentials()).expiresAt);
  t.equal(body.SecretAccessKey, (await h.session.credentials()).secretAccessKey, 'Cognito SecretKey is served as SecretAccessKey');
  h.session.stop();
});

t.test('AccountId is added when the profile names its role', async (t) => {
  const { PROFILE } = await import('../support/session-harness.js');
  const { h, app } = await setup({ profile: { ...PROFILE, customRoleArn: 'arn:aws:iam::123456789012:role/Dev' } });
  const body = (await app.inject({ method: 'GET', url: '/credentials', headers: auth })).json();
  t.equal(body.AccountId, '123456789012');
  h.session.stop();
});

t.test('GET /token and /profiles/:name/token return the ID and access tokens', async (t) => {
  const { h, app } = await setup();
  for (const url of ['/token', '/profiles/default/token']) {
    const res = await app.inject({ method: 'GET', url, headers: auth });
    t.equal(res.statusCode, 200, url);
    t.match(res.json(), { IdToken: /^id-token-/, AccessToken: /^access-token-/, Expiration: /Z$/ });
  }
  const res = await app.inject({ method: 'GET', url: '/profiles/default/credentials', headers: auth });
  t.equal(res.statusCode, 200);
  h.session.stop();
});

t.test('every route but /healthz needs the token', async (t) => {
  const { h, app, logs } = await setup();
  // Concurrently: failed requests are slowed down more with each recent failure (auth-throttle.test.ts).
  // HEAD routes are fastify's own copies of the GET routes; POST and /nope reach the 404 handler.
  const routes = [...['/credentials', '/token', '/profiles/default/credentials', '/profiles/default/token', '/status', '/nope'].map((url) => ({ method: 'GET' as const, url })),
    { method: 'HEAD' as const, url: '/credentials' }, { method: 'HEAD' as const, url: '/status' }, { method: 'POST' as const, url: '/credentials' }];
  const cases = routes.flatMap((route) =>
    [{}, { authorization: 'wrong' }, { authorization: `${TOKEN}x` }, { authorization: `Bearer ${TOKEN}` }].map((headers) => ({ ...route, headers })));
  await Promise.all(cases.map(async ({ method, url, headers }) => {
    const res = await app.inject({ method, url, headers, ...(method === 'POST' ? { payload: { probe: true } } : {}) });
    t.equal(res.statusCode, 401, `${method} ${url} ${JSON.stringify(headers).slice(0, 30)}`);
    if (method !== 'HEAD') t.equal(res.json().Code, 'BRK_ERR_UNAUTHORIZED');
  }));
  t.equal((await app.inject({ method: 'HEAD', url: '/credentials', headers: auth })).statusCode, 200, 'HEAD with the token');
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(health.statusCode, 200);
  t.same(health.json(), { status: 'ok', profiles: { default: 'ready' } });
  t.notMatch(logs.raw.join('\n'), /"wrong"|a{64}/, 'presented values are never logged');
  t.match(logs.raw.join('\n'), /missing or wrong Authorization/);
  h.session.stop();
});

t.test('unknown profile is a 404 with a JSON {Code, Message}', async (t) => {
  const { h, app } = await setup();
  const res = await app.inject({ method: 'GET', url: '/profiles/nope/credentials', headers: auth });
  t.equal(res.statusCode, 404);
  t.equal(res.headers['content-type'], 'application/json');
  t.match(res.json(), { Code: 'BRK_ERR_UNKNOWN_PROFILE', Message: /nope/ });
  h.session.stop();
});

t.test('unknown routes and methods are 404 JSON', async (t) => {
  const { h, app } = await setup();
  for (const [method, url] of [['GET', '/'], ['POST', '/credentials'], ['DELETE', '/token'], ['GET', '/credentials/extra'], ['GET', '/profiles/default']] as const) {
    const res = await app.inject({ method, url, headers: auth });
    t.equal(res.statusCode, 404, `${method} ${url}`);
    t.match(res.json(), { Code: 'BRK_ERR_ROUTE_NOT_FOUND' });
  }
  h.session.stop();
});

t.test('login required is a 503 whose message names the command', async (t) => {
  const { h, app } = await setup({ credentialsLifetimeMs: 60_000, idTokenLifetimeMs: 60_000 });
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'revoked (test)') };
  await h.clock.advance(120_000);
  const res = await app.inject({ method: 'GET', url: '/credentials', headers: auth });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { Code: 'BRK_ERR_LOGIN_REQUIRED', Message: /cognito-broker login/ });
  h.session.stop();
});

t.test('browser requests and foreign Host headers are refused', async (t) => {
  const { h, app } = await setup();
  const cases = [
    { host: 'evil.example:9911' },
    { host: 'evil.example' },
    { origin: 'https://evil.example' },
    { referer: 'https://evil.example/page' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-dest': 'image' },
    { 'sec-fetch-user': '?1' },
  ];
  for (const extra of cases) {
    for (const url of ['/credentials', '/healthz']) {
      const res = await app.inject({ method: 'GET', url, headers: { ...auth, ...extra } });
      t.equal(res.statusCode, 403, `${url} ${JSON.stringify(extra)}`);
      t.equal(res.json().Code, 'BRK_ERR_FORBIDDEN_REQUEST');
      t.notOk(res.headers['access-control-allow-origin'], 'no CORS headers');
    }
  }
  h.session.stop();
});

t.test("Node's fetch (Sec-Fetch-Mode: cors, no other browser markers) is served", async (t) => {
  const { h, app } = await setup();
  const res = await app.inject({ method: 'GET', url: '/token', headers: { ...auth, 'sec-fetch-mode': 'cors', 'user-agent': 'node' } });
  t.equal(res.statusCode, 200);
  h.session.stop();
});

t.test('serves the same serialized body until the credentials change', async (t) => {
  const { h, app } = await setup();
  const a = (await app.inject({ method: 'GET', url: '/credentials', headers: auth })).body;
  const b = (await app.inject({ method: 'GET', url: '/credentials', headers: auth })).body;
  t.equal(a, b);
  await h.clock.advance(31 * 60_000);
  const c = (await app.inject({ method: 'GET', url: '/credentials', headers: auth })).body;
  t.not(c, a, 'new credentials after the refresh-ahead');
  h.session.stop();
});
