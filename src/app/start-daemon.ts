import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { isLoopbackHost } from '../config/loopback.js';
import { deriveProfileToken } from '../server/endpoint-auth.js';
import { DAEMON_FILE, DAEMON_SOCKET, removeDaemonInfo, writeDaemonInfo } from '../store/daemon-file.js';
import { loadOrCreateMasterToken, type MasterTokenChange, scopedTokenFile, watchMasterToken, writeTokenFile } from '../store/endpoint-token-file.js';
import { securePrivatePaths } from '../store/private-paths.js';
import { openCommandSocket } from './command-socket.js';
import { createDaemon, type Daemon } from './create-daemon.js';
import { DaemonNotices, notifiersFor } from './daemon-notices.js';
import { openSecretStore } from './open-secret-store.js';

/** What `serve` runs, started: where it listens and what to hand a shell. */
export interface StartedDaemon {
  readonly daemon: Daemon;
  /** The base URL, naming the bound IP. */
  readonly url: string;
  /** The default profile's token (never the master) and the file that holds it. */
  readonly defaultToken: string;
  readonly defaultTokenFile: string;
  /** Stops serving, then removes daemon.json. */
  close(): Promise<void>;
}

export interface StartDaemonOptions {
  /** Listening sockets from systemd (socket activation); see takeInheritedSockets. */
  readonly inheritedFds?: readonly number[];
}

/**
 * The daemon of `serve`, wired and listening: private paths checked, the master token loaded
 * (a new one if the file was readable by others) and followed while running, every profile's
 * session started, and daemon.json written so that the CLI finds it.
 */
export async function startDaemon(config: Config, logger: Logger, options: StartDaemonOptions = {}): Promise<StartedDaemon> {
  const { tightened } = await securePrivatePaths({ stateDir: config.stateDir, tokenFile: config.server.tokenFile });
  for (const dir of tightened) logger.warn({ dir }, 'the state directory was readable by other users; its mode is now 0700');
  if (!isLoopbackHost(config.server.host)) {
    logger.warn({ host: config.server.host }, 'server.allowNonLoopback: serving AWS credentials beyond this machine, over plain HTTP; anyone who sees the endpoint token on the network can use it');
  }
  const master = await loadOrCreateMasterToken(config.server.tokenFile);
  if (master.replaced) logger.warn({ file: config.server.tokenFile }, masterChangeMessage('exposed'));
  const inheritedFds = options.inheritedFds ?? [];
  const notices = new DaemonNotices({ config, notifiers: notifiersFor(config, logger), logger });
  const daemon = createDaemon({ config, secrets: openSecretStore(config), masterToken: master.token, logger, inheritedFds, watcher: notices });
  // Starts the sessions, then loads fastify once their first requests are written (createDaemon).
  let url: string;
  try {
    url = await daemon.listen();
  } catch (error) {
    await notices.close();
    throw error;
  }
  await notices.start();
  const commandSocket = await openCommandSocket(join(config.stateDir, DAEMON_SOCKET), daemon.app.server, logger);
  const stopWatching = followMasterToken(config.server.tokenFile, master.token, daemon, logger);

  const daemonFile = join(config.stateDir, DAEMON_FILE);
  await writeDaemonInfo(daemonFile, {
    pid: process.pid,
    url,
    ...(commandSocket ? { socket: commandSocket.path } : {}),
    tokenFile: config.server.tokenFile,
    config: config.file,
    defaultProfile: config.defaultProfile,
    profiles: Object.keys(config.profiles),
    startedAt: new Date().toISOString(),
  });
  logger.info({ url, socket: commandSocket?.path, profiles: Object.keys(config.profiles), config: config.file, socketActivated: inheritedFds.length > 0 }, 'cognito-broker serving');
  const defaultToken = deriveProfileToken(master.token, config.defaultProfile, false);
  const defaultTokenFile = scopedTokenFile(config.stateDir, config.defaultProfile, false);
  await writeTokenFile(defaultTokenFile, defaultToken);
  return {
    daemon,
    url,
    defaultToken,
    defaultTokenFile,
    async close() {
      stopWatching();
      // Accepts no new command connections; the open ones end with the app's.
      const socketClosed = commandSocket?.close();
      await daemon.close();
      await socketClosed;
      await notices.close();
      await removeDaemonInfo(daemonFile, process.pid);
    },
  };
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
