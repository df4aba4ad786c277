import type { LevelWithSilent, Logger } from 'pino';
import type { AwsCredentials } from '../cognito/types.js';
import type { Config, ProfileConfig } from '../config/config.js';
import { createLogger } from '../log/create-logger.js';
import { createDaemon, type Daemon } from '../server/create-daemon.js';
import { openKeychain } from './cli-context.js';

/**
 * The broker run inside a command, for one profile, when no daemon serves it: `exec`
 * listens on loopback for its child's lifetime, `credential-process` reads once. Same
 * wiring as `serve` (createDaemon), restricted to the one profile so no other profile's
 * session is refreshed, always on 127.0.0.1 and a free port (never the configured one,
 * which a daemon may hold). Such commands run side by side: their brokers share the ID and
 * access tokens of a refresh through the keychain (under the refresh lock), so they spend the
 * refresh token once between them.
 */
export function createInProcessDaemon(config: Config, profile: ProfileConfig, authToken: string, logger: Logger = inProcessLogger()): Daemon {
  const single: Config = {
    ...config,
    server: { ...config.server, host: '127.0.0.1', port: 0 },
    defaultProfile: profile.name,
    profiles: { [profile.name]: profile },
  };
  return createDaemon({ config: single, secrets: openKeychain(), authToken, logger, shareTokens: true });
}

/**
 * Waits for the session's first refresh (keychain, then Cognito), however long it takes,
 * rather than the 750 ms a request waits, and returns its credentials, or its error
 * (not signed in, login required, Cognito unreachable). The error of that refresh even when
 * the session's backoff has begun a retry meanwhile (exec listens, loading the HTTP server,
 * while the first refresh runs).
 */
export async function firstCredentials(daemon: Daemon, profile: string): Promise<AwsCredentials> {
  const session = daemon.broker.session(profile);
  const failed = await session.firstRefresh();
  if (failed) throw failed;
  return session.credentials();
}

/**
 * Errors reach the user once, as the command's own error line; the session's log lines
 * would repeat them. COGNITO_BROKER_LOG_LEVEL shows more.
 */
function inProcessLogger(): Logger {
  const level = (process.env.COGNITO_BROKER_LOG_LEVEL || 'error') as LevelWithSilent;
  return createLogger({ level, pretty: process.stderr.isTTY === true });
}
