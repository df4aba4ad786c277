import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { createLogger } from '../../src/log/create-logger.js';
import { buildApp, containerListener } from '../../src/server/build-app.js';
import type { ContainerAdmin, ContainerTokenSpec } from '../../src/server/container-routes.js';
import { deriveContainerToken, deriveProfileToken, EndpointAuth, masterFingerprint } from '../../src/server/endpoint-auth.js';
import type { ContainerTokenRecord } from '../../src/store/container-token-registry.js';
import { createHarness, LogCapture, PROFILE } from '../support/session-harness.js';

const MASTER = '7'.repeat(64);
const HOST = '169.254.170.2:9911';
const RUN_TOKEN = 'e'.repeat(64);

function record(id: string, profile: string, extra: Partial<ContainerTokenRecord> = {}): ContainerTokenRecord {
  return { id, profile, idToken: false, mode: 'full-uri', createdAt: '2026-01-01T00:00:00.000Z', master: masterFingerprint(MASTER), ...extra };
}

/** The master's container routes over an in-memory list (app/container-token-admin.ts keeps it in a file). */
class ListAdmin implements ContainerAdmin {
  records: ContainerTokenRecord[] = [];
  constructor(private readonly auth: EndpointAuth) {}
  state() {
    return { address: '169.254.170.2', port: 9911, listening: true, relativeUri: { listening: false, problem: 'port 80 needs root or CAP_NET_BIND_SERVICE' } };
  }
  tokens() {
    return this.records;
  }
  async create(spec: ContainerTokenSpec) {
    const r = record(String(this.records.length).padStart(16, '0'), spec.profile, { idToken: spec.idToken, mode: spec.mode, ...(spec.name ? { name: spec.name } : {}) });
    this.records.push(r);
    this.auth.setContainerTokens(this.records);
    return { record: r, token: this.auth.containerToken(r) };
  }
  async revoke(id: string) {
    const before = this.records.length;
    this.records = this.records.filter((r) => r.id !== id);
    this.auth.setContainerTokens(this.records);
    return this.records.length < before;
  }
}

async function setup() {
  const a = await createHarness();
  const b = await createHarness({ profile: { ...PROFILE, name: 'work' } });
  const broker = new Broker({ defaultProfile: 'default' }, [a.session, b.session]);
  const auth = new EndpointAuth(MASTER, ['default', 'work']);
  const admin = new ListAdmin(auth);
  const logger = createLogger({ level: 'silent', destination: new LogCapture() });
  const loopback = buildApp({ broker, auth, logger, containers: admin });
  const container = buildApp({ broker, auth, logger, listener: containerListener([HOST]) });
  const relative = buildApp({ broker, auth, logger, listener: containerListener(['169.254.170.2', '169.254.170.2:80']) });
  for (const h of [a, b]) {
    h.session.start();
    await h.clock.advance(10);
  }
  t.teardown(() => [a, b].forEach((h) => h.session.stop()));
  const get = async (app: typeof loopback, url: string, headers: Record<string, string> = {}) =>
    (await app.inject({ method: 'GET', url, headers: { host: HOST, ...headers } })).statusCode;
  return { broker, auth, admin, loopback, container, relative, get };
}

t.test('the container listener refuses every token of the host: master, profile, exec child', async (t) => {
  const { auth, container, get } = await setup();
  const end = auth.registerChild(RUN_TOKEN, { profile: 'default', idToken: true });
  t.teardown(end);
  for (const [what, token] of [['master', MASTER], ['profile', deriveProfileToken(MASTER, 'default', false)], ['profile with ID token', deriveProfileToken(MASTER, 'default', true)], ['exec child', RUN_TOKEN]]) {
    t.equal(await get(container, '/credentials', { authorization: token as string }), 401, `${what}: 401`);
  }
  t.equal(await get(container, '/healthz'), 200, '/healthz is public there too (a compose healthcheck)');
});

t.test('a container token opens its own profile\'s credentials, on the container listener only', async (t) => {
  const { auth, admin, loopback, container, get } = await setup();
  const { token } = await admin.create({ profile: 'work', idToken: false, mode: 'full-uri' });
  t.equal(token, deriveContainerToken(MASTER, admin.records[0] as ContainerTokenRecord), 'derived from the master and the record');
  const h = { authorization: token };
  t.equal(await get(container, '/profiles/work/credentials', h), 200, 'its profile');
  t.equal(await get(container, '/credentials', h), 403, 'not the default profile');
  t.equal(await get(container, '/profiles/work/token', h), 403, 'not the ID token: it was not made with it');
  t.equal(await get(container, '/v2/credentials/x', h), 401, 'RELATIVE_URI\'s route reads the path, not the header');
  for (const path of ['/status', '/proof?nonce=' + 'a'.repeat(64), '/containers']) t.equal(await get(container, path, h), 404, `${path}: not served to containers`);
  t.equal((await container.inject({ method: 'POST', url: '/child-tokens', headers: { host: HOST, ...h }, payload: {} })).statusCode, 404, 'no minting there');
  t.equal((await loopback.inject({ method: 'GET', url: '/profiles/work/credentials', headers: { host: '127.0.0.1', ...h } })).statusCode, 401, 'refused on loopback');
  const withId = await admin.create({ profile: 'work', idToken: true, mode: 'full-uri' });
  t.equal(await get(container, '/profiles/work/token', { authorization: withId.token }), 200, '/token only to a token made with it');
  auth.setMaster('8'.repeat(64));
  t.equal(await get(container, '/profiles/work/credentials', h), 401, 'a rotated master ends every container token');
});

t.test('the container listener checks Host exactly: its address and port, nothing else', async (t) => {
  const { admin, container, relative } = await setup();
  const { token } = await admin.create({ profile: 'default', idToken: false, mode: 'full-uri' });
  const status = async (app: typeof container, host: string | undefined, extra: Record<string, string> = {}) =>
    (await app.inject({ method: 'GET', url: '/credentials', headers: { authorization: token, ...(host === undefined ? {} : { host }), ...extra } })).statusCode;
  t.equal(await status(container, HOST), 200);
  for (const host of ['127.0.0.1:9911', 'localhost:9911', '169.254.170.2', '169.254.170.2:80', '169.254.170.23:9911', 'evil.example:9911', 'host.docker.internal:9911']) {
    t.equal(await status(container, host), 403, `Host ${host}`);
  }
  t.equal(await status(container, undefined), 403, 'no Host');
  for (const marker of [{ origin: 'http://evil.example' }, { referer: 'http://evil.example/' }, { 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
    t.equal(await status(container, HOST, marker), 403, `browser marker ${Object.keys(marker)[0]}`);
  }
  t.equal(await status(relative, '169.254.170.2'), 200, 'port 80: the bare address (the default port)');
  t.equal(await status(relative, HOST), 403, 'port 80: not another port');
});

t.test('RELATIVE_URI: the path is the token, and works only as a path', async (t) => {
  const { auth, admin, relative, get } = await setup();
  const path = await admin.create({ profile: 'work', idToken: false, mode: 'relative-uri' });
  const header = await admin.create({ profile: 'work', idToken: false, mode: 'full-uri' });
  const host = { host: '169.254.170.2' };
  t.equal((await relative.inject({ method: 'GET', url: `/v2/credentials/${path.token}`, headers: host })).statusCode, 200, 'no Authorization header needed');
  t.same(Object.keys((await relative.inject({ method: 'GET', url: `/v2/credentials/${path.token}`, headers: host })).json()).sort(), ['AccessKeyId', 'Expiration', 'SecretAccessKey', 'Token']);
  t.equal((await relative.inject({ method: 'GET', url: `/v2/credentials/${header.token}`, headers: host })).statusCode, 401, 'a header token is no path');
  t.equal((await relative.inject({ method: 'GET', url: '/profiles/work/credentials', headers: { ...host, authorization: path.token } })).statusCode, 401, 'a path token is no header');
  t.equal((await relative.inject({ method: 'GET', url: `/v2/credentials/${'0'.repeat(64)}`, headers: host })).statusCode, 401, 'a guessed path');
  t.equal((await relative.inject({ method: 'GET', url: `/v2/credentials/${MASTER}`, headers: host })).statusCode, 401, 'the master as a path');
  const end = auth.registerChild(RUN_TOKEN, { kind: 'container', profile: 'default', idToken: false, inPath: true });
  t.equal((await relative.inject({ method: 'GET', url: `/v2/credentials/${RUN_TOKEN}`, headers: host })).statusCode, 200, 'a docker run path token');
  end();
  t.equal((await relative.inject({ method: 'GET', url: `/v2/credentials/${RUN_TOKEN}`, headers: host })).statusCode, 401, 'gone with its registration');
  t.equal(await get(relative, '/healthz', host), 200);
});

t.test('the master manages container tokens on loopback; revoked ones stop at once', async (t) => {
  const { loopback, container, get } = await setup();
  const master = { host: '127.0.0.1', authorization: MASTER };
  const created = await loopback.inject({ method: 'POST', url: '/containers/tokens', headers: master, payload: { profile: 'default', name: 'web app' } });
  t.equal(created.statusCode, 200, created.body);
  const body = created.json() as { id: string; token: string; profile: string; mode: string; master?: string };
  t.match(body, { profile: 'default', mode: 'full-uri', token: /^[0-9a-f]{64}$/ });
  t.notOk('master' in body, 'the fingerprint stays inside');
  t.equal(await get(container, '/credentials', { authorization: body.token }), 200);
  const listed = (await loopback.inject({ method: 'GET', url: '/containers', headers: master })).json() as { tokens: Record<string, unknown>[]; listening: boolean };
  t.same(listed.tokens.map((r) => [r.id, r.name, 'token' in r]), [[body.id, 'web app', false]], 'ids and names, never a value');
  t.equal(listed.listening, true);
  const profileToken = { host: '127.0.0.1', authorization: deriveProfileToken(MASTER, 'default', false) };
  t.equal((await loopback.inject({ method: 'POST', url: '/containers/tokens', headers: profileToken, payload: { profile: 'default' } })).statusCode, 403, 'a profile token cannot mint them');
  t.equal((await loopback.inject({ method: 'POST', url: '/containers/tokens', headers: master, payload: { profile: 'nope' } })).statusCode, 404, 'an unknown profile');
  t.equal((await loopback.inject({ method: 'POST', url: '/containers/tokens', headers: master, payload: { profile: 'default', mode: 'other' } })).statusCode, 400);
  t.equal((await loopback.inject({ method: 'DELETE', url: `/containers/tokens/${body.id}`, headers: master })).statusCode, 200);
  t.equal(await get(container, '/credentials', { authorization: body.token }), 401, 'revoked: refused at once');
  const again = await loopback.inject({ method: 'DELETE', url: `/containers/tokens/${body.id}`, headers: master });
  t.equal(again.json().Code, 'BRK_ERR_CONTAINER_TOKEN_NOT_FOUND');
});

t.test('without server.containers the routes say so', async (t) => {
  const a = await createHarness();
  const broker = new Broker({ defaultProfile: 'default' }, [a.session]);
  const app = buildApp({ broker, auth: new EndpointAuth(MASTER, ['default']), logger: createLogger({ level: 'silent', destination: new LogCapture() }) });
  const res = await app.inject({ method: 'GET', url: '/containers', headers: { host: '127.0.0.1', authorization: MASTER } });
  t.equal(res.statusCode, 409);
  t.equal(res.json().Code, 'BRK_ERR_CONTAINERS_NOT_CONFIGURED');
  const child = await app.inject({ method: 'POST', url: '/child-tokens', headers: { host: '127.0.0.1', authorization: MASTER }, payload: { profile: 'default', token: RUN_TOKEN, container: true } });
  t.equal(child.json().Code, 'BRK_ERR_CONTAINERS_NOT_CONFIGURED', 'no docker run token either');
});
