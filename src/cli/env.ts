import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DaemonNotRunningError, UnknownProfileError } from '../errors.js';
import { readDaemonInfo } from '../store/daemon-file.js';
import { readToken } from '../store/endpoint-token-file.js';
import { loadCliConfig } from './cli-context.js';
import { DAEMON_FILE } from './serve.js';
import { credentialsUrl, shellExports } from './shell-exports.js';

export const ENV_HELP = `Usage: cognito-broker env [--profile P] [--config PATH]

Prints the shell lines that point AWS SDKs and CLIs at the running broker:
  eval "$(cognito-broker env)"
With --profile, AWS_CONTAINER_CREDENTIALS_FULL_URI names that profile's route.`;

/** How long `env` waits for the daemon to answer /healthz. */
const HEALTH_TIMEOUT_MS = 1_000;

export async function env(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { profile: { type: 'string' }, config: { type: 'string' } }, strict: true });
  const config = await loadCliConfig(values);
  const info = await readDaemonInfo(join(config.stateDir, DAEMON_FILE));
  if (!info || !(await answers(info.url))) throw new DaemonNotRunningError(info?.url ?? `http://${config.server.host}:${config.server.port}`);
  const profile = values.profile ?? info.defaultProfile;
  if (!info.profiles.includes(profile)) throw new UnknownProfileError(profile, info.profiles);
  const token = await readToken(info.tokenFile);
  if (!token) throw new DaemonNotRunningError(info.url);
  process.stdout.write(`${shellExports(credentialsUrl(info.url, profile, info.defaultProfile), token, info.tokenFile)}\n`);
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    return response.ok;
  } catch {
    return false;
  }
}
