import { randomBytes } from 'node:crypto';
import type { LevelWithSilent, Logger } from 'pino';
import type { ProfileSession } from '../broker/profile-session.js';
import type { Config, ProfileConfig } from '../config/config.js';
import { createLogger } from '../log/create-logger.js';
import { createDaemon, type Daemon } from './create-daemon.js';
import { openSecretStore } from './open-secret-store.js';

/**
 * The broker run inside a command, for one profile, when no daemon serves it: `exec`
 * listens on loopback for its child's lifetime, `credential-process` and `token` read once.
 * Same wiring as `serve` (createDaemon), restricted to the one profile so no other
 * profile's session is refreshed, always on 127.0.0.1 and a free port (never the
 * configured one, which a daemon may hold), with a master token of its own that never
 * leaves this process. Such commands run side by side: their brokers share the ID and access
 * tokens of a refresh through the keychain (under the refresh lock), so they spend the refresh
 * token once between them.
 */
export function createInProcessDaemon(config: Config, profile: ProfileConfig, logger: Logger = inProcessLogger()): Daemon {
  const single: Config = {
    ...config,
    // Never a container listener: containers reach only the daemon.
    server: { ...config.server, host: '127.0.0.1', port: 0, containers: undefined },
    defaultProfile: profile.name,
    profiles: { [profile.name]: profile },
  };
  return createDaemon({ config: single, secrets: openSecretStore(config), masterToken: randomBytes(32).toString('hex'), logger, shareTokens: true });
}

/**
 * Waits for the session's first refresh (keychain, then Cognito), however long it takes,
 * rather than the 750 ms a request waits; then reads. Errors are those of that first
 * refresh (not signed in, login required, Cognito unreachable), even when the session's
 * backoff has begun a retry meanwhile (exec listens, loading the HTTP server, while the
 * first refresh runs).
 */
export async function firstRead<T>(daemon: Daemon, profile: string, read: (session: ProfileSession) => Promise<T>): Promise<T> {
  const session = daemon.broker.session(profile);
  const failed = await session.firstRefresh();
  if (failed) throw failed;
  return read(session);
}

/** One read through a broker of this process's own that never listens. */
export async function readInProcess<T>(config: Config, profile: ProfileConfig, read: (session: ProfileSession) => Promise<T>): Promise<T> {
  const daemon = createInProcessDaemon(config, profile);
  try {
    return await firstRead(daemon, profile.name, read);
  } finally {
    await daemon.close();
  }
}

/**
 * Errors reach the user once, as the command's own error line; the session's log lines
 * would repeat them. COGNITO_BROKER_LOG_LEVEL shows more.
 */
function inProcessLogger(): Logger {
  const level = (process.env.COGNITO_BROKER_LOG_LEVEL || 'error') as LevelWithSilent;
  return createLogger({ level, pretty: process.stderr.isTTY === true });
}
