/**
 * An in-process daemon (createDaemon: the real broker, the real AWS SDK clients, the real
 * HTTP app) whose Cognito is the local stack behind the fault proxy, whose keychain is a
 * MemoryStore holding a session from a real sign-in, and whose clock is the test's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../src/broker/clock.js';
import type { ProfileSession } from '../../src/broker/profile-session.js';
import type { SessionPhase } from '../../src/broker/session-state.js';
import { createCognitoClients } from '../../src/cognito/create-cognito-clients.js';
import { readIdTokenClaims } from '../../src/cognito/jwt-claims.js';
import { signIn } from '../../src/cognito/sign-in.js';
import type { Config, ProfileConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { createDaemon, type Daemon } from '../../src/app/create-daemon.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionStore, type StoredSession } from '../../src/store/session-store.js';
import type { FaultProxy } from '../../testkit/fault-proxy.js';
import type { FaultStack } from './fault-stack.js';
import type { FakeClock } from '../../testkit/fake-clock.js';
import { LogCapture } from './session-harness.js';

export const ENDPOINT_TOKEN = 'f'.repeat(64);
const BUSY: readonly SessionPhase[] = ['starting', 'refreshing', 'refreshing-ahead'];
const SETTLE_TIMEOUT_MS = 20_000;

export interface Reply {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Record<string, string>;
  /** Real time the request took. */
  readonly ms: number;
}

export interface FaultDaemon {
  readonly proxy: FaultProxy;
  readonly profile: ProfileConfig;
  readonly secrets: MemoryStore;
  readonly sessions: SessionStore;
  readonly stored: StoredSession;
  readonly daemon: Daemon;
  /** The daemon's HTTP app, built and ready (never listening). */
  readonly app: FastifyInstance;
  readonly session: ProfileSession;
  readonly logs: LogCapture;
  /** GET with the endpoint token, through app.inject. */
  get(path: string): Promise<Reply>;
  /** Resolves once no refresh is running (real time: the upstream calls are real). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export interface FaultDaemonOptions {
  readonly clock: Clock;
  readonly random?: () => number;
  /** A session to start from instead of signing in again. */
  readonly stored?: StoredSession;
  /** Start the broker (default true). */
  readonly start?: boolean;
  /** Endpoints other than the proxy (the user pool must stay reachable for the sign-in). */
  readonly endpoints?: { readonly cognitoIdentity?: string };
}

export async function startFaultDaemon(fs: FaultStack, options: FaultDaemonOptions): Promise<FaultDaemon> {
  fs.use(options.clock);
  const proxy = await fs.startProxy();
  const { stack } = fs;
  const profile: ProfileConfig = {
    name: 'default',
    region: stack.region,
    userPoolId: stack.userPoolId,
    clientId: stack.clientId,
    identityPoolId: stack.identityPoolId,
    endpoints: { cognitoIdp: proxy.url, cognitoIdentity: options.endpoints?.cognitoIdentity ?? proxy.url },
  };
  const stored = options.stored ?? (await signInThrough(profile, stack.username, stack.password, options.clock));
  const secrets = new MemoryStore();
  const sessions = new SessionStore(secrets);
  await sessions.save(profile, stored);

  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-fault-'));
  const config: Config = {
    file: join(dir, 'config.json'),
    stateDir: dir,
    server: { host: '127.0.0.1', port: 0, tokenFile: join(dir, 'endpoint-token') },
    secretStore: 'keychain',
    defaultProfile: 'default',
    profiles: { default: profile },
  };
  const logs = new LogCapture();
  const daemon = createDaemon({
    config,
    secrets,
    masterToken: ENDPOINT_TOKEN,
    logger: createLogger({ level: 'debug', destination: logs }),
    clock: options.clock,
    // createDaemon's default passes `clock.now` unbound, which loses a class clock's `this`
    // (FakeClock): the credentials' issuedAt became undefined. Same clients, bound clock.
    createClients: (p, onRequest) => createCognitoClients(p, () => options.clock.now(), { onRequest }),
    ...(options.random ? { random: options.random } : {}),
  });
  const session = daemon.broker.session();
  // Builds the app (listen() does in production); else the first inject would, and be slower.
  const app = await daemon.ready();

  const settled = async () => {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (BUSY.includes(session.phase)) {
      if (Date.now() > deadline) throw new Error(`the refresh did not end within ${SETTLE_TIMEOUT_MS} ms (phase ${session.phase})`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  if (options.start !== false) {
    daemon.broker.start();
    await settled();
  }

  return {
    proxy,
    profile,
    secrets,
    sessions,
    stored,
    daemon,
    app,
    session,
    logs,
    async get(path) {
      const started = performance.now();
      const res = await app.inject({ method: 'GET', url: path, headers: { authorization: ENDPOINT_TOKEN } });
      return { status: res.statusCode, contentType: res.headers['content-type'] as string | undefined, body: res.json(), ms: performance.now() - started };
    },
    settled,
    async stop() {
      await daemon.close();
      proxy.releaseHung();
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real USER_PASSWORD_AUTH sign-in against cognito-local (through the proxy), as `login` does it. */
export async function signInThrough(profile: ProfileConfig, username: string, password: string, clock: Clock): Promise<StoredSession> {
  const clients = createCognitoClients(profile, () => clock.now());
  try {
    // cognito-local knows no SRP: USER_PASSWORD_AUTH, as `login --auth-flow user-password`.
    const { tokens } = await signIn(clients.userPool, {
      flow: 'user-password',
      userPoolId: profile.userPoolId,
      username,
      password,
      ask: async () => {
        throw new Error('the test user was asked a challenge');
      },
    });
    return {
      v: 1,
      refreshToken: tokens.refreshToken,
      username,
      cognitoUsername: readIdTokenClaims(tokens.idToken)['cognito:username'],
      userPoolId: profile.userPoolId,
      clientId: profile.clientId,
      signedInAt: clock.now(),
    };
  } finally {
    clients.destroy();
  }
}

export interface AdvanceOptions {
  /** Fake milliseconds per step; the refresh each step starts runs to its end (real I/O) before the next. */
  readonly step?: number;
  /** Run `tick` every this many fake milliseconds (a multiple of `step`). */
  readonly every?: number;
  readonly tick?: () => Promise<void>;
}

/**
 * Moves a FakeClock forward `ms` in steps, letting each refresh the timers start finish
 * against the real upstream before moving on, and optionally acting every so often (a
 * client polling the endpoint).
 */
export async function advance(clock: FakeClock, d: Pick<FaultDaemon, 'settled'>, ms: number, options: AdvanceOptions = {}): Promise<void> {
  const step = options.step ?? 1000;
  for (let elapsed = 0; elapsed < ms; ) {
    const move = Math.min(step, ms - elapsed);
    await clock.advance(move);
    await d.settled();
    elapsed += move;
    if (options.every !== undefined && options.tick && elapsed % options.every === 0) await options.tick();
  }
}

/** Advances until `done()` holds, at most `maxMs`; resolves with the fake time it took (or Infinity). */
export async function advanceUntil(clock: FakeClock, d: Pick<FaultDaemon, 'settled'>, done: () => boolean | Promise<boolean>, maxMs: number, step = 250): Promise<number> {
  for (let elapsed = 0; elapsed <= maxMs; elapsed += step) {
    if (await done()) return elapsed;
    await clock.advance(step);
    await d.settled();
  }
  return Infinity;
}
