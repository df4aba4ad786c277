import { parseArgs } from 'node:util';
import { createCognitoClients } from '../cognito/create-cognito-clients.js';
import { readIdTokenClaims } from '../cognito/jwt-claims.js';
import { signIn } from '../cognito/sign-in.js';
import { SessionStore } from '../store/session-store.js';
import { loadCliConfig, openKeychain, pickProfile } from './cli-context.js';
import { askChallenge, askPassword, askUsername } from './prompt.js';
import { readStdin } from './read-stdin.js';

export const LOGIN_HELP = `Usage: cognito-broker login [--profile P] [--username U] [--password-stdin] [--config PATH]

Signs in to the profile's user pool (USER_PASSWORD_AUTH) and keeps the refresh token in the
OS keychain. Asks for the password, and for a new password or an MFA code when the pool
requires one, at the terminal (masked). A running 'cognito-broker serve' picks the new
session up within a few seconds; no restart needed.

  --profile P        profile from the config (default: the config's default profile)
  --username U       user to sign in as (default: the profile's "username", else asked)
  --password-stdin   read the password from standard input instead of asking
  --config PATH      config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

export async function login(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      username: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      config: { type: 'string' },
    },
    strict: true,
  });
  const config = await loadCliConfig(values);
  const profile = pickProfile(config, values.profile);
  const username = values.username ?? profile.username ?? (await askUsername());
  const password = values['password-stdin'] ? await readStdin() : await askPassword();

  const clients = createCognitoClients(profile);
  try {
    const tokens = await signIn(clients.userPool, username, password, askChallenge);
    const claims = readIdTokenClaims(tokens.idToken);
    await new SessionStore(openKeychain()).save(profile, {
      v: 1,
      refreshToken: tokens.refreshToken,
      username,
      cognitoUsername: claims['cognito:username'],
      userPoolId: profile.userPoolId,
      clientId: profile.clientId,
      signedInAt: Date.now(),
    });
  } finally {
    clients.destroy();
  }
  process.stderr.write(`Signed in as ${username} (profile "${profile.name}"). The refresh token is in the OS keychain.\n`);
}
