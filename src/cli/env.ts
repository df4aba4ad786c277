import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DaemonNotRunningError, UnknownProfileError } from '../errors.js';
import { type DaemonInfo, readDaemonInfo } from '../store/daemon-file.js';
import { readToken } from '../store/endpoint-token-file.js';
import { DAEMON_FILE, loadCliConfig } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
import { credentialsUrl, shellExports } from './shell-exports.js';

export const ENV_HELP = `Usage: cognito-broker env [--profile P] [--config PATH]

Prints the shell lines that point AWS SDKs and CLIs at the running broker:
  eval "$(cognito-broker env)"
With --profile, AWS_CONTAINER_CREDENTIALS_FULL_URI names that profile's route.`;

/** How long `env` waits for the daemon to answer /healthz. */
const HEALTH_TIMEOUT_MS = 1_000;

export async function env(argv: string[], io: CliIo = processIo): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { profile: { type: 'string' }, config: { type: 'string' } }, strict: true });
  const config = await loadCliConfig(values);
  const info = await readDaemonInfo(join(config.stateDir, DAEMON_FILE));
  if (!isDaemonInfo(info) || !(await answers(info.url))) throw new DaemonNotRunningError(isDaemonInfo(info) ? info.url : `http://${config.server.host}:${config.server.port}`);
  const profile = values.profile ?? info.defaultProfile;
  if (!info.profiles.includes(profile)) throw new UnknownProfileError(profile, info.profiles);
  const token = await readToken(info.tokenFile);
  if (!token) throw new DaemonNotRunningError(info.url);
  io.stdout(`${shellExports(credentialsUrl(info.url, profile, info.defaultProfile), token, info.tokenFile)}\n`);
}

/** daemon.json as serve writes it; anything else (a stale or hand-edited file) means no daemon. */
function isDaemonInfo(info: DaemonInfo | undefined): info is DaemonInfo {
  return (
    typeof info === 'object' && info !== null &&
    typeof info.url === 'string' && /^http:\/\//.test(info.url) &&
    typeof info.tokenFile === 'string' && typeof info.defaultProfile === 'string' &&
    Array.isArray(info.profiles) && info.profiles.every((p) => typeof p === 'string')
  );
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    return response.ok;
  } catch {
    return false;
  }
}
