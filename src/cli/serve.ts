import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LevelWithSilent, Logger } from 'pino';
import { isLoopbackHost } from '../config/loopback.js';
import { createLogger } from '../log/create-logger.js';
import { createDaemon, type Daemon } from '../server/create-daemon.js';
import { deriveProfileToken } from '../server/endpoint-auth.js';
import { DAEMON_FILE, removeDaemonInfo, writeDaemonInfo } from '../store/daemon-file.js';
import { loadOrCreateMasterToken, type MasterTokenChange, scopedTokenFile, watchMasterToken, writeTokenFile } from '../store/endpoint-token-file.js';
import { loadCliConfig, openKeychain } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
import { profileUrl } from './daemon-client.js';
import { securePrivatePaths } from './private-paths.js';
import { shellExports } from './shell-exports.js';

export const SERVE_HELP = `Usage: cognito-broker serve [--config PATH] [--log-level LEVEL]

Runs the broker in the foreground: keeps every profile's ID token and AWS credentials fresh
and serves them on loopback. Prints the lines a shell needs for the default profile
(eval "$(cognito-broker env)" gives them later, for any profile; the token's value only
when stdout is a terminal), logs to stderr (JSON; readable on a terminal), stops on Ctrl-C.

Takes over listening sockets from systemd (socket activation: LISTEN_FDS), as the unit that
'cognito-broker service install' writes sets up. A port held by another user is an error
that names the user (BRK_ERR_PORT_HELD_BY_OTHER_USER).

  --config PATH       config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)
  --log-level LEVEL   fatal, error, warn, info (default), debug, trace or silent
                      (also COGNITO_BROKER_LOG_LEVEL)`;

export async function serve(argv: string[], io: CliIo = processIo, stdoutIsTerminal = process.stdout.isTTY === true): Promise<void> {
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
  const master = await loadOrCreateMasterToken(config.server.tokenFile);
  if (master.replaced) logger.warn({ file: config.server.tokenFile }, masterChangeMessage('exposed'));
  const inheritedFds = takeInheritedSockets();
  const daemon = createDaemon({ config, secrets: openKeychain(), masterToken: master.token, logger, inheritedFds });
  // Starts the sessions, then loads fastify: the first refresh's waits overlap the load.
  const url = await daemon.listen();
  const stopWatching = followMasterToken(config.server.tokenFile, master.token, daemon, logger);

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
  logger.info({ url, profiles: Object.keys(config.profiles), config: config.file, socketActivated: inheritedFds.length > 0 }, 'cognito-broker serving');
  // The default profile's token, never the master: the master stays with the CLI and the daemon.
  const token = deriveProfileToken(master.token, config.defaultProfile, false);
  const tokenFile = scopedTokenFile(config.stateDir, config.defaultProfile, false);
  await writeTokenFile(tokenFile, token);
  io.stdout(`${shellExports(profileUrl(url, config.defaultProfile, config.defaultProfile, 'credentials'), stdoutIsTerminal ? token : undefined, tokenFile)}\n`);

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
  stopWatching();
  await daemon.close();
  await removeDaemonInfo(daemonFile, process.pid);
  logger.flush();
}

/**
 * Listening sockets passed by systemd (sd_listen_fds(3)): fds 3, 4, … when LISTEN_PID names
 * this process. The variables are removed so that no child takes them for its own.
 */
export function takeInheritedSockets(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number[] {
  const count = Number(env.LISTEN_FDS);
  const ours = env.LISTEN_PID === String(pid) && Number.isInteger(count) && count > 0;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  return ours ? Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i) : [];
}

const SD_LISTEN_FDS_START = 3;

/** A rotated master token is taken up at once; an exposed file gets a new one. */
function followMasterToken(file: string, initial: string, daemon: Daemon, logger: Logger): () => void {
  let current = initial;
  return watchMasterToken(file, () => current, (token, change) => {
    current = token;
    daemon.auth.setMaster(token);
    logger[change === 'rotated' ? 'info' : 'warn']({ file, change }, masterChangeMessage(change));
  });
}

function masterChangeMessage(change: MasterTokenChange): string {
  switch (change) {
    case 'rotated':
      return 'the endpoint token was rotated: tokens derived from the old one no longer open anything; run eval "$(cognito-broker env)" again in open shells';
    case 'exposed':
      return 'the endpoint token file was readable by other users: it holds a new token now, and every token derived from the old one stopped working; run eval "$(cognito-broker env)" again in open shells';
    case 'restored':
      return 'the endpoint token file was deleted: written again with the current token';
  }
}
