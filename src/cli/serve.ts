import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { isLoopbackHost } from '../config/config-schema.js';
import { createLogger } from '../log/create-logger.js';
import { createDaemon } from '../server/create-daemon.js';
import { removeDaemonInfo, writeDaemonInfo } from '../store/daemon-file.js';
import { loadOrCreateEndpointToken } from '../store/endpoint-token-file.js';
import { DAEMON_FILE, loadCliConfig, openKeychain } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
import { securePrivatePaths } from './private-paths.js';
import { credentialsUrl, shellExports } from './shell-exports.js';

export const SERVE_HELP = `Usage: cognito-broker serve [--config PATH] [--log-level LEVEL]

Runs the broker in the foreground: keeps every profile's ID token and AWS credentials fresh
and serves them on loopback. Prints the lines a shell needs (eval "$(cognito-broker env)"
gives the same later), logs to stderr (JSON; readable on a terminal), stops on Ctrl-C.

  --config PATH       config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)
  --log-level LEVEL   fatal, error, warn, info (default), debug, trace or silent
                      (also COGNITO_BROKER_LOG_LEVEL)`;

export { DAEMON_FILE };

export async function serve(argv: string[], io: CliIo = processIo): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, 'log-level': { type: 'string' } },
    strict: true,
  });
  const config = await loadCliConfig(values);
  const level = (values['log-level'] ?? process.env.COGNITO_BROKER_LOG_LEVEL ?? 'info') as LevelWithSilent;
  const logger = createLogger({ level, pretty: process.stderr.isTTY === true });
  const { tightened } = await securePrivatePaths({ stateDir: config.stateDir, tokenFile: config.server.tokenFile });
  for (const dir of tightened) logger.warn({ dir }, 'the state directory was readable by other users; its mode is now 0700');
  if (!isLoopbackHost(config.server.host)) {
    logger.warn({ host: config.server.host }, 'server.allowNonLoopback: serving AWS credentials beyond this machine, over plain HTTP; anyone who sees the endpoint token on the network can use it');
  }
  const authToken = await loadOrCreateEndpointToken(config.server.tokenFile);
  const daemon = createDaemon({ config, secrets: openKeychain(), authToken, logger });
  // Starts the sessions, then loads fastify: the first refresh's waits overlap the load.
  const url = await daemon.listen();

  const daemonFile = join(config.stateDir, DAEMON_FILE);
  await writeDaemonInfo(daemonFile, {
    pid: process.pid,
    url,
    tokenFile: config.server.tokenFile,
    config: config.file,
    defaultProfile: config.defaultProfile,
    profiles: Object.keys(config.profiles),
    startedAt: new Date().toISOString(),
  });
  logger.info({ url, profiles: Object.keys(config.profiles), config: config.file }, 'cognito-broker serving');
  io.stdout(`${shellExports(credentialsUrl(url, config.defaultProfile, config.defaultProfile), authToken, config.server.tokenFile)}\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await daemon.close();
  await removeDaemonInfo(daemonFile, process.pid);
  logger.flush();
}
