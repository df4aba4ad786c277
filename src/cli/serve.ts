import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { startDaemon, takeInheritedSockets } from '../app/start-daemon.js';
import { createLogger } from '../log/create-logger.js';
import { bundleCodeCacheUse, saveBundleCodeCache } from '../require-bundle.js';
import { loadCliConfig } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
import { profileUrl } from './announced-daemon.js';
import { COMPACT_AFTER_START_UP_MS, compactAfterStartUp, resumeOptimization, resumeOptimizationAfter, START_UP_LIMIT_MS } from './daemon-heap.js';
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
  const started = await startDaemon(config, logger, { inheritedFds: takeInheritedSockets() });
  // Started with the optimizing compiler off (run-main.ts): on again for the requests to come, once
  // the first refreshes, which run once, are over too; what start-up ran once, given back soon
  // after. The code cache first, under the flags the next start compiles with (require-bundle.ts).
  void resumeOptimizationAfter(started.daemon.broker.firstRefreshes(), START_UP_LIMIT_MS, () => {
    saveBundleCodeCache();
    resumeOptimization();
  }).then(() => {
    logger.debug({ codeCache: bundleCodeCacheUse() }, 'start-up over: V8 optimizes from here on');
    setTimeout(() => {
      const began = performance.now();
      try {
        if (compactAfterStartUp()) logger.debug({ ms: Math.round(performance.now() - began) }, 'heap compacted after start-up');
      } catch (error) {
        // Memory only: serve goes on as it is.
        logger.warn({ error: (error as Error).message }, 'could not compact the heap after start-up');
      }
    }, COMPACT_AFTER_START_UP_MS).unref();
  });
  // Listening for the signals before the exports are printed: whatever reads them may stop
  // serve at once, and a SIGTERM before the listener is there would end it without cleaning up.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (received: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(received);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // The token's value only to a terminal: a log or the journal would keep it.
  io.stdout(`${shellExports(profileUrl(started.url, config.defaultProfile, config.defaultProfile, 'credentials'), stdoutIsTerminal ? started.defaultToken : undefined, started.defaultTokenFile)}\n`);
  const signal = await stopped;
  logger.info({ signal }, 'shutting down');
  await started.close();
  logger.flush();
}
