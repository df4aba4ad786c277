import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Config, ProfileConfig } from '../../src/config/config.js';
import { KeychainUnavailableError, PortHeldByOtherUserError, PortInUseError } from '../../src/errors.js';
import { listenerOwner } from '../../src/app/listener-owner.js';
import { OTHER_USER, otherUid, requireOtherUser, squat } from '../support/other-user.js';
import { createLogger } from '../../src/log/create-logger.js';
import { createDaemon, type Daemon } from '../../src/app/create-daemon.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionStore } from '../../src/store/session-store.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { MemoryCognito } from '../../testkit/memory-cognito.js';
import type { CredentialExchanger, TokenRefresher } from '../../src/cognito/types.js';
import { LogCapture, PROFILE, storedSession } from '../support/session-harness.js';

const TOKEN = 'd'.repeat(64);
const HOUR_MS = 60 * 60_000;

/**
 * A store that notes whether the daemon's HTTP app existed when the first refresh read the
 * keychain; its reads wait for `answer` first (a keychain over D-Bus answers some
 * milliseconds later; a locked one, when the user unlocks it).
 */
class WatchedStore extends MemoryStore {
  appBuiltAtFirstRead: boolean | undefined;
  daemon: Daemon | undefined;
  answer: () => Promise<void> = async () => undefined;
  override async get(account: string): Promise<string | undefined> {
    if (this.appBuiltAtFirstRead === undefined && this.daemon) this.appBuiltAtFirstRead = appBuilt(this.daemon);
    await this.answer();
    return super.get(account);
  }
}

function appBuilt(daemon: Daemon): boolean {
  try {
    return daemon.app !== undefined;
  } catch {
    return false;
  }
}

/**
 * The fake user pool and identity pool, telling onRequest of each call as the real clients
 * do; a refresh answers only once `answer` resolves (a Cognito round trip).
 */
function telling(upstream: MemoryCognito, onRequest: () => void, answer: () => Promise<void>): TokenRefresher & CredentialExchanger {
  return {
    refresh: async (request) => {
      onRequest();
      await answer();
      return upstream.refresh(request);
    },
    getId: (idToken) => (onRequest(), upstream.getId(idToken)),
    getCredentials: (identityId, idToken) => (onRequest(), upstream.getCredentials(identityId, idToken)),
  };
}

interface DaemonOptions {
  readonly host?: string;
  readonly resolveHost?: (host: string) => Promise<string[]>;
  /** More profiles beside PROFILE (the default). */
  readonly profiles?: Record<string, ProfileConfig>;
  readonly firstRequestsWaitMs?: number;
  readonly loadFastify?: () => void;
}

async function daemonOn(t: Test, port = 0, server: DaemonOptions = {}) {
  const clock = new FakeClock();
  const upstream = new MemoryCognito({ clock });
  const secrets = new WatchedStore();
  await new SessionStore(secrets).save(PROFILE, storedSession());
  const config: Config = {
    file: join(tmpdir(), 'cognito-broker-create-daemon-test.json'),
    stateDir: tmpdir(),
    server: { host: server.host ?? '127.0.0.1', port, tokenFile: join(tmpdir(), 'cognito-broker-create-daemon-unused-token') },
    secretStore: 'keychain',
    defaultProfile: PROFILE.name,
    profiles: { [PROFILE.name]: PROFILE, ...server.profiles },
  };
  /** For each request to the fake Cognito: whether the HTTP app had been built by then. */
  const appBuiltAtRequests: boolean[] = [];
  const refreshes = { answer: async (): Promise<void> => undefined };
  const daemon = createDaemon({
    config,
    secrets,
    masterToken: TOKEN,
    logger: createLogger({ level: 'silent', destination: new LogCapture() }),
    clock,
    createClients: (_profile, onRequest) => {
      const cognito = telling(upstream, () => {
        appBuiltAtRequests.push(appBuilt(daemon));
        onRequest();
      }, () => refreshes.answer());
      return { userPool: cognito, identityPool: cognito, destroy: () => undefined };
    },
    ...(server.resolveHost ? { resolveHost: server.resolveHost } : {}),
    ...(server.firstRequestsWaitMs !== undefined ? { firstRequestsWaitMs: server.firstRequestsWaitMs } : {}),
    ...(server.loadFastify ? { loadFastify: server.loadFastify } : {}),
  });
  secrets.daemon = daemon;
  t.teardown(() => daemon.close());
  return { clock, upstream, secrets, daemon, appBuiltAtRequests, refreshes };
}

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** Waits no end: a test that needs listen() not to rely on the bound. */
const NO_BOUND_MS = 2_147_483_647;

t.test('listen() starts the first refresh before it builds the HTTP app, then serves', async (t) => {
  const { secrets, daemon } = await daemonOn(t);
  t.throws(() => daemon.app, /ready\(\) or listen\(\)/, 'no app before listen()');
  const url = await daemon.listen();
  t.equal(secrets.appBuiltAtFirstRead, false, 'the keychain read began while the app was still to be loaded');
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const res = await fetch(`${url}/credentials`, { headers: { authorization: TOKEN } });
  t.equal(res.status, 200);
});

t.test('listen() builds the HTTP app once the first request to Cognito is out, not while the keychain answers, and without waiting for the answer', async (t) => {
  const { secrets, daemon, appBuiltAtRequests, refreshes } = await daemonOn(t, 0, { firstRequestsWaitMs: NO_BOUND_MS });
  secrets.answer = () => new Promise((resolve) => setTimeout(resolve, 30));
  const roundTrip = gate();
  refreshes.answer = () => roundTrip.opened;
  t.teardown(roundTrip.open);
  const url = await daemon.listen();
  t.same(appBuiltAtRequests, [false], 'fastify was not loaded yet when the refresh went out');
  t.equal(daemon.broker.session().phase, 'refreshing', 'listening while the refresh waits for its answer: the load overlapped the round trip');
  roundTrip.open();
  t.equal((await fetch(`${url}/credentials`, { headers: { authorization: TOKEN } })).status, 200);
});

t.test('an answer that comes in while fastify loads is handled before the app is built: the requests it sets off go out first', async (t) => {
  const roundTrip = gate();
  // The refresh's answer arrives during the load (a first load takes about a round trip).
  const { daemon, appBuiltAtRequests, refreshes } = await daemonOn(t, 0, { firstRequestsWaitMs: NO_BOUND_MS, loadFastify: roundTrip.open });
  refreshes.answer = () => roundTrip.opened;
  t.teardown(roundTrip.open);
  const url = await daemon.listen();
  t.same(appBuiltAtRequests, [false, false, false], 'the refresh, GetId and GetCredentialsForIdentity all went out before the app was built');
  t.equal((await fetch(`${url}/credentials`, { headers: { authorization: TOKEN } })).status, 200);
});

t.test('a profile that borrows another\'s sign-in waits for its owner\'s first request, not its own', async (t) => {
  const admin: ProfileConfig = { ...PROFILE, name: 'admin', signInFrom: PROFILE };
  const { daemon, appBuiltAtRequests, refreshes } = await daemonOn(t, 0, { profiles: { admin }, firstRequestsWaitMs: NO_BOUND_MS });
  const roundTrip = gate();
  refreshes.answer = () => roundTrip.opened;
  t.teardown(roundTrip.open);
  await daemon.listen();
  t.same(appBuiltAtRequests, [false], 'listening after the owner\'s refresh went out, before any request of the borrower\'s');
});

t.test('a keychain that does not answer (a locked one) does not keep the daemon from listening', async (t) => {
  const { secrets, daemon, appBuiltAtRequests } = await daemonOn(t);
  const unlocked = gate();
  secrets.answer = () => unlocked.opened;
  t.teardown(unlocked.open);
  const url = await daemon.listen();
  t.same(appBuiltAtRequests, [], 'listening, with the keychain still to answer');
  t.equal((await fetch(`${url}/healthz`)).status, 200);
});

t.test('ready() builds the app without starting the sessions', async (t) => {
  const { upstream, daemon } = await daemonOn(t);
  const app = await daemon.ready();
  t.equal(daemon.app, app);
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  t.same(upstream.calls, { refresh: 0, getId: 0, getCredentials: 0 });
});

t.test('close() before the app was ever built (a command that never listens)', async (t) => {
  const { daemon } = await daemonOn(t);
  await daemon.close();
  t.throws(() => daemon.app);
});

t.test('a port in use: PortInUseError, and the sessions stop', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as { port: number }).port;
  const { clock, upstream, daemon } = await daemonOn(t, port);
  await t.rejects(daemon.listen(), PortInUseError);
  await clock.advance(3 * HOUR_MS);
  t.equal(upstream.calls.refresh, 1, 'no refresh after the first one: the broker was stopped');
});

/** "localhost" as a machine whose /etc/hosts names both loopback addresses resolves it. */
const bothLoopbacks = async (host: string) => (host === 'localhost' ? ['127.0.0.1', '::1'] : [host]);

t.test('"localhost" binds every address it resolves to, on one port; the URL names the IP', async (t) => {
  const { daemon } = await daemonOn(t, 0, { host: 'localhost', resolveHost: bothLoopbacks });
  const url = await daemon.listen();
  const port = Number(new URL(url).port);
  t.equal(url, `http://127.0.0.1:${port}`, 'the bound IPv4 address, never the name');
  for (const base of [`http://127.0.0.1:${port}`, `http://[::1]:${port}`]) {
    const res = await fetch(`${base}/credentials`, { headers: { authorization: TOKEN } });
    t.equal(res.status, 200, `served at ${base}`);
  }
  t.equal((await listenerOwner('::1', port))?.uid, process.getuid?.(), 'the [::1] socket is ours');
});

t.test('another user holding one of localhost\'s addresses: serve fails, naming the user, and holds no other address', async (t) => {
  if (!requireOtherUser(t)) return;
  const squatter = await squat('::1', 0);
  t.teardown(() => squatter.stop());
  const { daemon } = await daemonOn(t, squatter.port, { host: 'localhost', resolveHost: bothLoopbacks });
  const error = await daemon.listen().catch((e: unknown) => e);
  t.ok(error instanceof PortHeldByOtherUserError, 'BRK_ERR_PORT_HELD_BY_OTHER_USER');
  t.match((error as Error).message, new RegExp(`Port ${squatter.port} on ::1 is held by another user's process \\(uid ${otherUid()} \\(${OTHER_USER}\\)\\)[^]*rotate-token`));
  t.equal(await listenerOwner('127.0.0.1', squatter.port), undefined, '127.0.0.1 was not left bound');
  t.same(squatter.requests(), [], 'nothing was sent to it');
});

t.test('a port held by another user is named as such; one of our own is a plain port in use', async (t) => {
  if (!requireOtherUser(t)) return;
  const squatter = await squat('127.0.0.1', 0);
  t.teardown(() => squatter.stop());
  const { daemon } = await daemonOn(t, squatter.port);
  await t.rejects(daemon.listen(), { code: 'BRK_ERR_PORT_HELD_BY_OTHER_USER', message: new RegExp(`uid ${otherUid()}`) });
});

t.test('close() makes one last attempt to write a rotated refresh token the keychain refused so far, before the clients go', async (t) => {
  class RefusingStore extends MemoryStore {
    refuse = false;
    writtenAfterDestroy = false;
    destroyed = false;
    override async set(account: string, value: string): Promise<void> {
      if (this.refuse) throw new KeychainUnavailableError('writes refused (test)');
      if (this.destroyed) this.writtenAfterDestroy = true;
      return super.set(account, value);
    }
  }
  const clock = new FakeClock();
  const upstream = new MemoryCognito({ clock });
  upstream.rotateRefreshTokens = true;
  const secrets = new RefusingStore();
  const sessions = new SessionStore(secrets);
  await sessions.save(PROFILE, storedSession());
  const stateDir = mkdtempSync(join(tmpdir(), 'cognito-broker-create-daemon-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const config: Config = {
    file: join(stateDir, 'config.json'),
    stateDir,
    server: { host: '127.0.0.1', port: 0, tokenFile: join(stateDir, 'token') },
    secretStore: 'keychain',
    defaultProfile: PROFILE.name,
    profiles: { [PROFILE.name]: PROFILE },
  };
  const daemon = createDaemon({
    config,
    secrets,
    masterToken: TOKEN,
    logger: createLogger({ level: 'silent', destination: new LogCapture() }),
    clock,
    createClients: () => ({ userPool: upstream, identityPool: upstream, destroy: () => (secrets.destroyed = true) }),
  });
  const session = daemon.broker.session();
  await session.refresh();
  t.equal((await sessions.load(PROFILE))?.refreshToken, 'rotated-refresh-token-1');
  secrets.refuse = true;
  while (upstream.calls.refresh < 2) await clock.advance(60_000);
  t.equal((await sessions.load(PROFILE))?.refreshToken, 'rotated-refresh-token-1', 'the next rotated token was refused');
  secrets.refuse = false;
  await daemon.close();
  t.equal((await sessions.load(PROFILE))?.refreshToken, upstream.issuedRefreshTokens.at(-1), 'written at close');
  t.notOk(secrets.writtenAfterDestroy, 'before the Cognito clients were destroyed');
  t.notOk(existsSync(join(stateDir, 'locks', `${PROFILE.name}.lock`)), 'no refresh lock left behind');
});
