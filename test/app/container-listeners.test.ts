import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createDaemon } from '../../src/app/create-daemon.js';
import type { Config, ContainersConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionStore } from '../../src/store/session-store.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { MemoryCognito } from '../../testkit/memory-cognito.js';
import { freePort } from '../../testkit/ports.js';
import { LogCapture, PROFILE, storedSession } from '../support/session-harness.js';
import { waitFor } from '../../testkit/wait.js';

/** How long and how often the checks below look again. */
const STEP = { timeoutMs: 3_000, intervalMs: 20 };

const MASTER = '3'.repeat(64);

/** A 127.x.y.z of this run's own: all of 127/8 is on loopback, so a real bind works. */
function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(2, 255)}`;
}

async function daemonWith(t: Test, containers: Partial<ContainersConfig> & { address: string }, options: { stateDir: string; master?: string; present?: () => boolean }) {
  const clock = new FakeClock();
  const upstream = new MemoryCognito({ clock });
  const secrets = new MemoryStore();
  await new SessionStore(secrets).save(PROFILE, storedSession());
  const logs = new LogCapture();
  const config: Config = {
    file: join(options.stateDir, 'config.json'),
    stateDir: options.stateDir,
    server: { host: '127.0.0.1', port: 0, tokenFile: join(options.stateDir, 'endpoint-token'), containers: { relativeUri: false, ...containers } },
    secretStore: 'keychain',
    defaultProfile: PROFILE.name,
    profiles: { [PROFILE.name]: PROFILE },
  };
  const daemon = createDaemon({
    config, secrets, masterToken: options.master ?? MASTER, clock, containerPollMs: 50,
    logger: createLogger({ level: 'info', destination: logs }),
    createClients: () => ({ userPool: upstream, identityPool: upstream, destroy: () => undefined }),
    ...(options.present ? { isLocalAddress: async () => (options.present as () => boolean)() } : {}),
  });
  const url = await daemon.listen();
  t.teardown(() => daemon.close());
  const master = { authorization: options.master ?? MASTER };
  return {
    daemon,
    url,
    logs,
    port: Number(new URL(url).port),
    state: async () => (await (await fetch(`${url}/containers`, { headers: master })).json()) as { listening: boolean; port: number; tokens: { id: string }[] },
    create: async (body: Record<string, unknown>) => (await (await fetch(`${url}/containers/tokens`, { method: 'POST', headers: { ...master, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { id: string; token: string },
  };
}

/** GET with a Host of our choosing (fetch sends its own), the status or the socket error's code. */
function get(address: string, port: number, path: string, headers: Record<string, string>): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpGet({ host: address, port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

t.test('the container listener is bound while the address is there, closed while it is not', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cb-container-listeners-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const address = randomLoopback();
  let present = false;
  const d = await daemonWith(t, { address }, { stateDir, present: () => present });
  t.equal((await d.state()).listening, false);
  t.equal((await d.state()).port, d.port, 'the loopback listener\'s port by default');
  const { token } = await d.create({ profile: 'default' });
  const headers = { authorization: token, host: `${address}:${d.port}` };
  t.equal(await get(address, d.port, '/credentials', headers), 'ECONNREFUSED', 'nothing bound yet');

  present = true;
  await waitFor('bound once the address appears', async () => (await d.state()).listening, Boolean, STEP);
  t.equal(await get(address, d.port, '/credentials', headers), 200);
  t.equal(await get(address, d.port, '/credentials', { ...headers, host: `127.0.0.1:${d.port}` }), 403, 'its own Host only');

  present = false;
  await waitFor('closed once it goes', async () => !(await d.state()).listening, Boolean, STEP);
  t.equal(await get(address, d.port, '/credentials', headers), 'ECONNREFUSED');
  const messages = d.logs.lines.map((l) => l.msg);
  t.ok(messages.includes('listening for containers'), 'logged when bound');
  t.ok(messages.some((m) => /the container address is gone/.test(String(m))), 'and when closed');
});

t.test('long-lived container tokens survive a restart; another master ends them all', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cb-container-registry-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const address = randomLoopback();
  const first = await daemonWith(t, { address }, { stateDir });
  await waitFor('the real probe finds a 127.x address', async () => (await first.state()).listening, Boolean, STEP);
  const { id, token } = await first.create({ profile: 'default', name: 'kept' });
  await first.daemon.close();

  const second = await daemonWith(t, { address }, { stateDir });
  await waitFor('listening', async () => (await second.state()).listening, Boolean, STEP);
  t.same((await second.state()).tokens.map((r) => r.id), [id], 'the registry was read at start');
  t.equal(await get(address, second.port, '/credentials', { authorization: token, host: `${address}:${second.port}` }), 200, 'the token works after a restart');
  await second.daemon.close();

  const rotated = await daemonWith(t, { address }, { stateDir, master: '4'.repeat(64) });
  await waitFor('listening', async () => (await rotated.state()).listening, Boolean, STEP);
  t.same((await rotated.state()).tokens, [], 'records of another master are not listed');
  t.equal(await get(address, rotated.port, '/credentials', { authorization: token, host: `${address}:${rotated.port}` }), 401, 'nor honoured');
  await rotated.create({ profile: 'default' });
  const file = JSON.parse(readFileSync(join(stateDir, 'container-tokens.json'), 'utf8')) as { tokens: { id: string }[] };
  t.equal(file.tokens.length, 1, 'and dropped from the file at the next write');
  t.not(file.tokens[0]?.id, id);
});

t.test('relayPort: one listener on 127.0.0.1 for the relay, answering to the container address', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cb-container-relay-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const relayPort = await freePort();
  const d = await daemonWith(t, { address: '169.254.170.2', port: 9911, relayPort, relativeUri: true }, { stateDir });
  await waitFor('bound on 127.0.0.1:relayPort', async () => (await d.state()).listening, Boolean, STEP);
  t.match(await d.state(), { port: 9911, relayPort, relativeUri: { listening: true } });
  const full = await d.create({ profile: 'default' });
  const relative = await d.create({ profile: 'default', mode: 'relative-uri' });
  t.equal(await get('127.0.0.1', relayPort, '/credentials', { authorization: full.token, host: '169.254.170.2:9911' }), 200, 'FULL_URI, as the container sent it');
  t.equal(await get('127.0.0.1', relayPort, `/v2/credentials/${relative.token}`, { host: '169.254.170.2' }), 200, 'RELATIVE_URI, forwarded from port 80');
  t.equal(await get('127.0.0.1', relayPort, '/credentials', { authorization: full.token, host: `127.0.0.1:${relayPort}` }), 403, 'not as a loopback endpoint');
  t.equal(await get('127.0.0.1', relayPort, '/credentials', { authorization: MASTER, host: '169.254.170.2:9911' }), 401, 'the master opens nothing there');
});
