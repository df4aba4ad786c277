import { parseArgs } from 'node:util';
import { type CliIo, processIo } from './cli-io.js';
import { daemonRoute, findDaemon, findDaemonOfConfigFile, loadConfigAndProfile, type RunningDaemon } from './daemon-client.js';
import { shellExports } from './shell-exports.js';

export const ENV_HELP = `Usage: cognito-broker env [--profile P] [--config PATH]

Prints the shell lines that point AWS SDKs and CLIs at the running broker:
  eval "$(cognito-broker env)"
With --profile, AWS_CONTAINER_CREDENTIALS_FULL_URI names that profile's route
(/profiles/P/credentials); one daemon serves every profile of the config.

Fails (exit 1) when no daemon answers (BRK_ERR_DAEMON_NOT_RUNNING), or when the one
running serves another config or was started before the config named the profile
(BRK_ERR_DAEMON_MISMATCH). To run one command without a daemon: cognito-broker exec.`;

export async function env(argv: string[], io: CliIo = processIo): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { profile: { type: 'string' }, config: { type: 'string' } }, strict: true });
  // It runs in every new shell: with a daemon of this very config file, the config need not be loaded.
  const fast = await findDaemonOfConfigFile(values.config, values.profile, { probe: true });
  if (fast) return print(fast.daemon, fast.profile, io);
  const { config, profile } = await loadConfigAndProfile(values);
  const found = await findDaemon(config, { profile: profile.name, probe: true });
  if (!found.daemon) throw found.problem;
  print(found.daemon, profile.name, io);
}

function print(daemon: RunningDaemon, profile: string, io: CliIo): void {
  io.stdout(`${shellExports(daemonRoute(daemon, profile, 'credentials'), daemon.token, daemon.info.tokenFile)}\n`);
}
