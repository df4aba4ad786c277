import { execFileSync } from 'node:child_process';
import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { buildApp } from '../../src/server/build-app.js';
import { deriveProfileToken, EndpointAuth, isDaemonProof } from '../../src/server/endpoint-auth.js';
import { createLogger } from '../../src/log/create-logger.js';
import { createHarness, LogCapture } from '../support/session-harness.js';
import { LoginRequiredError } from '../../src/errors.js';

const TOKEN = 'a'.repeat(64);

async function setup(options: Parameters<typeof createHarness>[0] = {}) {
  const h = await createHarness(options);
  const broker = new Broker({ defaultProfile: 'default' }, [h.session]);
  const logs = new LogCapture();
  const app = buildApp({ broker, auth: new EndpointAuth(TOKEN, ['default']), logger: createLogger({ level: 'trace', destination: logs }) });
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
  t.same(health.json(), { status: 'ok' }, 'public, so it says only that the server is up: no profile names, no states');
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

/** Two profiles, default and work, each on its own fake Cognito. */
async function setupTwo() {
  const { PROFILE } = await import('../support/session-harness.js');
  const a = await createHarness();
  const b = await createHarness({ profile: { ...PROFILE, name: 'work' } });
  const broker = new Broker({ defaultProfile: 'default' }, [a.session, b.session]);
  const auth = new EndpointAuth(TOKEN, ['default', 'work']);
  const app = buildApp({ broker, auth, logger: createLogger({ level: 'silent', destination: new LogCapture() }) });
  a.session.start();
  b.session.start();
  await a.clock.advance(10);
  await b.clock.advance(10);
  return { app, auth, stop: () => [a, b].forEach((h) => h.session.stop()) };
}

t.test('a profile token opens that profile\'s credentials and nothing else: 403 says what it is for', async (t) => {
  const { app, stop } = await setupTwo();
  t.teardown(stop);
  const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: { authorization: token } });
  const work = deriveProfileToken(TOKEN, 'work', false);
  t.equal((await get('/profiles/work/credentials', work)).statusCode, 200, 'its own credentials');
  for (const url of ['/credentials', '/profiles/default/credentials', '/profiles/work/token', '/token', '/status']) {
    const res = await get(url, work);
    t.equal(res.statusCode, 403, url);
    t.match(res.json(), { Code: 'BRK_ERR_TOKEN_SCOPE', Message: /This token opens the credentials of profile "work" only/ }, url);
  }
  const res = await app.inject({ method: 'POST', url: '/child-tokens', headers: { authorization: work }, payload: { profile: 'work', token: 'b'.repeat(64) } });
  t.equal(res.statusCode, 403, 'it cannot mint tokens either');

  const withId = deriveProfileToken(TOKEN, 'work', true);
  t.equal((await get('/profiles/work/token', withId)).statusCode, 200, '--with-id-token: also the ID token');
  t.equal((await get('/profiles/work/credentials', withId)).statusCode, 200);
  t.equal((await get('/token', withId)).statusCode, 403, 'still only its own profile');

  const byDefault = deriveProfileToken(TOKEN, 'default', false);
  t.equal((await get('/credentials', byDefault)).statusCode, 200, 'the default profile\'s at /credentials');
  t.equal((await get('/profiles/default/credentials', byDefault)).statusCode, 200);
  t.equal((await get('/profiles/nope/credentials', byDefault)).statusCode, 403, 'an unknown profile is not for it either');

  for (const url of ['/credentials', '/token', '/profiles/work/credentials', '/profiles/work/token', '/status']) {
    t.equal((await get(url, TOKEN)).statusCode, 200, `the master opens ${url}`);
  }
  t.equal((await get('/credentials', deriveProfileToken('c'.repeat(64), 'default', false))).statusCode, 401, 'derived from another master: unknown');
});

t.test('a rotated master: everything derived from the old one is refused', async (t) => {
  const { app, auth, stop } = await setupTwo();
  t.teardown(stop);
  const old = deriveProfileToken(TOKEN, 'default', false);
  const next = 'd'.repeat(64);
  auth.setMaster(next);
  for (const token of [TOKEN, old]) t.equal((await app.inject({ method: 'GET', url: '/credentials', headers: { authorization: token } })).statusCode, 401);
  t.equal((await app.inject({ method: 'GET', url: '/credentials', headers: { authorization: deriveProfileToken(next, 'default', false) } })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/status', headers: { authorization: next } })).statusCode, 200);
});

t.test('GET /proof answers a nonce with the proof only the master\'s holder can give; no token needed', async (t) => {
  const { app, stop } = await setupTwo();
  t.teardown(stop);
  const nonce = 'e'.repeat(64);
  const res = await app.inject({ method: 'GET', url: `/proof?nonce=${nonce}` });
  t.equal(res.statusCode, 200);
  t.ok(isDaemonProof(TOKEN, nonce, res.json().proof), 'the right proof');
  t.notOk(isDaemonProof('c'.repeat(64), nonce, res.json().proof), 'not another master\'s');
  t.notMatch(res.body, TOKEN);
  for (const bad of ['', 'short', `${nonce}0`, 'G'.repeat(64)]) {
    const answer = await app.inject({ method: 'GET', url: `/proof?nonce=${bad}` });
    t.equal(answer.statusCode, 400, `nonce ${JSON.stringify(bad)}`);
    t.equal(answer.json().Code, 'BRK_ERR_BAD_REQUEST');
  }
});

t.test('importing the module loads no fastify: the first buildApp does, when serve chooses (see createDaemon)', async (t) => {
  const moduleUrl = new URL('../../src/server/build-app.js', import.meta.url).href;
  const loaded = (code: string) => execFileSync(process.execPath, ['--input-type=module', '-e', `${code}; console.log(Object.keys((await import('node:module')).default._cache).some((f) => f.endsWith('/src/server/fastify-subset.cjs') || f.includes('/node_modules/fastify/')))`], { encoding: 'utf8' }).trim();
  t.equal(loaded(`await import(${JSON.stringify(moduleUrl)})`), 'false', 'not on import');
  t.equal(loaded(`const { buildApp } = await import(${JSON.stringify(moduleUrl)}); try { buildApp({}); } catch {}`), 'true', 'on the first buildApp (the control)');
});
