import { parseArgs } from 'node:util';
import { scopedTokenFile, writeTokenFile } from '../store/endpoint-token-file.js';
import { type CliIo, processIo } from './cli-io.js';
import { type DaemonLookup, findDaemon, findDaemonOfConfigFile, loadConfigAndProfile } from './daemon-client.js';
import { shellExports } from './shell-exports.js';

export const ENV_HELP = `Usage: cognito-broker env [--profile P] [--with-id-token] [--config PATH]

Prints the shell lines that point AWS SDKs and CLIs at the running broker:
  eval "$(cognito-broker env)"
The token they carry opens one profile's credentials (the default profile's, or P's with
--profile) and nothing else: not another profile, not the ID token, not /status. One daemon
serves every profile of the config; each profile has its own token, derived from the
daemon's master token, the same in every shell and across restarts.

  --profile P       the profile to point at (AWS_CONTAINER_CREDENTIALS_FULL_URI names its
                    route, /profiles/P/credentials)
  --with-id-token   the token also opens the profile's ID token (GET /token, for scripts
                    that call APIs behind a Cognito authorizer). The access token that
                    comes with it can change the user's account: give it only where needed.
  --config PATH     config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)

Fails (exit 1) when no daemon answers (BRK_ERR_DAEMON_NOT_RUNNING); when the listener at its
address is not your daemon (BRK_ERR_DAEMON_UNTRUSTED: no token is sent to it); or when the
daemon serves another config or started before the config named the profile
(BRK_ERR_DAEMON_MISMATCH). To run one command without a daemon: cognito-broker exec.`;

export async function env(argv: string[], io: CliIo = processIo): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { profile: { type: 'string' }, config: { type: 'string' }, 'with-id-token': { type: 'boolean', default: false } },
    strict: true,
  });
  // It runs in every new shell: with a daemon of this very config file, the config need not be loaded.
  const fast = await findDaemonOfConfigFile(values);
  let lookup: DaemonLookup;
  let profile: string;
  if (fast) {
    ({ lookup, profile } = fast);
  } else {
    const loaded = await loadConfigAndProfile(values);
    lookup = await findDaemon(loaded.config, { profile: loaded.profile.name });
    profile = loaded.profile.name;
  }
  if (!lookup.daemon) throw lookup.problem;
  const { daemon } = lookup;
  try {
    const idToken = values['with-id-token'];
    const token = daemon.profileToken(profile, idToken);
    const file = scopedTokenFile(daemon.stateDir, profile, idToken);
    await writeTokenFile(file, token);
    io.stdout(`${shellExports(daemon.route(profile, 'credentials'), token, file)}\n`);
  } finally {
    daemon.close();
  }
}
