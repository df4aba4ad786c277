import { once } from 'node:events';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { createLogger } from '../../src/log/create-logger.js';
import { buildApp } from '../../src/server/build-app.js';
import { deriveProfileToken, EndpointAuth } from '../../src/server/endpoint-auth.js';
import { createHarness, LogCapture, PROFILE } from '../support/session-harness.js';
import { waitFor } from '../../testkit/wait.js';

/** How long and how often the checks below look again. */
const STEP = { timeoutMs: 2_000, intervalMs: 20 };

const MASTER = '9'.repeat(64);
const CHILD = 'b'.repeat(64);

async function setup() {
  const a = await createHarness();
  const b = await createHarness({ profile: { ...PROFILE, name: 'work' } });
  const broker = new Broker({ defaultProfile: 'default' }, [a.session, b.session]);
  const app = buildApp({ broker, auth: new EndpointAuth(MASTER, ['default', 'work']), logger: createLogger({ level: 'silent', destination: new LogCapture() }) });
  for (const h of [a, b]) {
    h.session.start();
    await h.clock.advance(10);
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const get = async (path: string, token: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: token } });
    return res.status;
  };
  return { app, port, get, stop: () => [a, b].forEach((h) => h.session.stop()) };
}

/** POST /child-tokens, resolved at the first line of the answer; the request stays open. */
async function hold(port: number, authorization: string, body: unknown): Promise<{ request: ClientRequest; response: IncomingMessage; firstLine: string }> {
  const payload = JSON.stringify(body);
  const req = request({ host: '127.0.0.1', port, path: '/child-tokens', method: 'POST', headers: { authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } });
  req.end(payload);
  const [response] = (await once(req, 'response')) as [IncomingMessage];
  response.setEncoding('utf8');
  const text = await new Promise<string>((resolve) => {
    let received = '';
    response.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\n')) resolve(received);
    });
    response.on('end', () => resolve(received));
  });
  return { request: req, response, firstLine: text.split('\n')[0] ?? '' };
}

t.test('a child token opens its profile while the registering connection stays open, and not after', async (t) => {
  const { app, port, get, stop } = await setup();
  t.teardown(async () => {
    stop();
    await app.close();
  });
  t.equal(await get('/profiles/work/credentials', CHILD), 401, 'unknown before it is registered');
  const held = await hold(port, MASTER, { profile: 'work', token: CHILD, idToken: false });
  t.equal(held.response.statusCode, 200);
  t.same(JSON.parse(held.firstLine), { Profile: 'work', IdToken: false });
  t.equal(await get('/profiles/work/credentials', CHILD), 200, 'its profile\'s credentials');
  t.equal(await get('/profiles/work/token', CHILD), 403, 'not the ID token unless asked for');
  t.equal(await get('/credentials', CHILD), 403, 'not another profile');
  t.equal(await get('/status', CHILD), 403);

  // A second registration of the same token (a reconnecting exec) stacks: the token lives
  // until the last one ends.
  const again = await hold(port, MASTER, { profile: 'work', token: CHILD, idToken: false });
  held.request.destroy();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(await get('/profiles/work/credentials', CHILD), 200, 'still held by the second');
  again.request.destroy();
  await waitFor('the token stops working when its last connection closes', async () => (await get('/profiles/work/credentials', CHILD)) === 401, Boolean, STEP);
  t.pass('refused once the holder is gone');
});

t.test('only the master registers child tokens; malformed requests are 400, unknown profiles 404', async (t) => {
  const { app, port, stop } = await setup();
  t.teardown(async () => {
    stop();
    await app.close();
  });
  const scoped = await hold(port, deriveProfileToken(MASTER, 'work', true), { profile: 'work', token: CHILD });
  t.equal(scoped.response.statusCode, 403);
  t.match(JSON.parse(scoped.firstLine), { Code: 'BRK_ERR_TOKEN_SCOPE' });
  for (const body of [{}, { profile: 'work' }, { profile: 'work', token: 'short' }, { profile: 'work', token: CHILD, idToken: 'yes' }]) {
    const answer = await hold(port, MASTER, body);
    t.equal(answer.response.statusCode, 400, JSON.stringify(body));
  }
  const unknown = await hold(port, MASTER, { profile: 'nope', token: CHILD });
  t.equal(unknown.response.statusCode, 404);
  const none = await hold(port, 'wrong', { profile: 'work', token: CHILD });
  t.equal(none.response.statusCode, 401);
});

t.test('closing the server ends open registrations instead of waiting for them', async (t) => {
  const { app, port, get, stop } = await setup();
  const held = await hold(port, MASTER, { profile: 'default', token: CHILD, idToken: true });
  t.equal(await get('/token', CHILD), 200, 'idToken: true opens /token');
  const ended = once(held.response, 'end');
  const started = Date.now();
  stop();
  await app.close();
  await ended;
  t.ok(Date.now() - started < 2_000, 'close() did not wait for the held connection');
});
