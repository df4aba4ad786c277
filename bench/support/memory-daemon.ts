/**
 * The broker's real app (createDaemon: broker, sessions, fastify app, hooks, logger) with
 * Cognito and the keychain in memory: what the endpoint costs, without the network.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../../src/broker/clock.js';
import { parseConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { createDaemon, type Daemon } from '../../src/app/create-daemon.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionStore } from '../../src/store/session-store.js';
import type { MemoryCognito } from '../../testkit/memory-cognito.js';

export const BENCH_PROFILE = {
  region: 'us-east-1',
  userPoolId: 'us-east-1_BenchPool1',
  clientId: 'benchclient0000000000000000',
  identityPoolId: 'us-east-1:00000000-0000-4000-8000-000000000001',
};

export interface MemoryDaemon {
  readonly daemon: Daemon;
  readonly masterToken: string;
  /** http://127.0.0.1:PORT once listening. */
  readonly url: string;
}

export interface MemoryDaemonOptions {
  readonly upstream: MemoryCognito;
  readonly clock?: Clock;
  /** Default: what `serve` does, info level, JSON to stderr. */
  readonly logger?: Logger;
  readonly masterToken?: string;
}

/** Listens on 127.0.0.1, a free port, with a stored session; resolves once listening. */
export async function startMemoryDaemon(options: MemoryDaemonOptions): Promise<MemoryDaemon> {
  const config = parseConfig(
    join(tmpdir(), 'cognito-broker-bench-config.json'),
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0, tokenFile: join(tmpdir(), 'cognito-broker-bench-unused-token') },
      profiles: { default: BENCH_PROFILE },
    }),
  );
  const secrets = new MemoryStore();
  const profile = config.profiles.default;
  if (!profile) throw new Error('bench config has no default profile');
  await new SessionStore(secrets).save(profile, {
    v: 1,
    refreshToken: 'bench-refresh-token',
    username: 'bench-user',
    userPoolId: profile.userPoolId,
    clientId: profile.clientId,
    signedInAt: options.clock?.now() ?? Date.now(),
  });
  const masterToken = options.masterToken ?? randomBytes(32).toString('hex');
  const daemon = createDaemon({
    config,
    secrets,
    masterToken,
    logger: options.logger ?? createLogger({ level: 'info' }),
    ...(options.clock ? { clock: options.clock } : {}),
    createClients: () => ({ userPool: options.upstream, identityPool: options.upstream, destroy: () => undefined }),
  });
  const url = await daemon.listen();
  return { daemon, masterToken, url };
}

/** Resolves when every profile is `ready` (polls; the refresh is in memory, so it is quick). */
export async function waitUntilReady(daemon: Daemon, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!daemon.broker.status().every((s) => s.phase === 'ready')) {
    if (Date.now() > deadline) throw new Error(`the broker did not become ready: ${JSON.stringify(daemon.broker.status())}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
