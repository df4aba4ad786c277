import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createCognitoClients } from '../cognito/create-cognito-clients.js';
import { readIdTokenClaims } from '../cognito/jwt-claims.js';
import { signIn } from '../cognito/sign-in.js';
import type { ProfileConfig } from '../config/config.js';
import { isBrokerError } from '../errors.js';
import { SessionStore, type StoredSession } from '../store/session-store.js';
import { loadCliConfig, openKeychain, pickProfile } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
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

/**
 * Writing the session to the keychain is tried this many times: a locked keychain is often
 * unlocked within seconds (an unlock prompt answered, a desktop session resuming), and the
 * sign-in, with its password and MFA code, should not have to be done again for that.
 */
export const SAVE_ATTEMPTS = 4;
/** Waits between attempts: 0.5 s, 1 s, 2 s. */
export const SAVE_RETRY_BASE_MS = 500;

export async function login(argv: string[], io: CliIo = processIo): Promise<void> {
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
    await saveSession(new SessionStore(openKeychain()), profile, {
      v: 1,
      refreshToken: tokens.refreshToken,
      username,
      cognitoUsername: claims['cognito:username'],
      userPoolId: profile.userPoolId,
      clientId: profile.clientId,
      signedInAt: Date.now(),
    }, io);
  } finally {
    clients.destroy();
  }
  io.stderr(`Signed in as ${username} (profile "${profile.name}"). The refresh token is in the OS keychain.\n`);
}

/**
 * Stores the session, retrying a keychain that refuses (locked, its service restarting).
 * Every failed attempt is reported; when the last one fails the user is told that the
 * sign-in itself worked, that nothing was stored, and what to do.
 */
async function saveSession(sessions: SessionStore, profile: ProfileConfig, session: StoredSession, io: CliIo): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await sessions.save(profile, session);
      return;
    } catch (error) {
      const code = isBrokerError(error) ? error.code : 'an unexpected error';
      if (!isBrokerError(error) || !error.retryable || attempt >= SAVE_ATTEMPTS) {
        const command = profile.name === 'default' ? 'cognito-broker login' : `cognito-broker login --profile ${profile.name}`;
        io.stderr(
          `cognito-broker: signed in as ${session.username}, but the session could not be stored in the OS keychain (${attempt} ${attempt === 1 ? 'attempt' : 'attempts'}, ${code}); nothing was saved. Unlock the keychain, then run ${command} again.\n`,
        );
        throw error;
      }
      const delayMs = SAVE_RETRY_BASE_MS * 2 ** (attempt - 1);
      io.stderr(`cognito-broker: the OS keychain refused the write (${code}); trying again in ${delayMs / 1000} s (attempt ${attempt + 1} of ${SAVE_ATTEMPTS}).\n`);
      await sleep(delayMs);
    }
  }
}
