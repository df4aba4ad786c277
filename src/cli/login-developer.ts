import { randomBytes } from 'node:crypto';
import { IdentityCommandRunner } from '../app/identity-command-runner.js';
import { createCognitoClients } from '../cognito/create-cognito-clients.js';
import { DEVELOPER_PROVIDER, type ProfileConfig } from '../config/config.js';
import { LoginRequiredError, SignInFailedError } from '../errors.js';
import type { SecretStore } from '../store/secret-store.js';
import { SessionStore } from '../store/session-store.js';
import type { CliIo } from './cli-io.js';
import { saveSession } from './save-session.js';

/**
 * `login` of a developerIdentity profile: runs the organisation's command at the terminal
 * (it may prompt, or use a session of its own), exchanges its token once to show the whole
 * path works, and records in the keychain that the profile is signed in. No secret is kept:
 * the daemon runs the command again for every token. The record's "refresh token" is a
 * random marker, so that after a "not signed in" the daemon tells this new login from the
 * refused one (it compares fingerprints, as for a refused refresh token).
 */
export async function loginWithDeveloperIdentity(profile: ProfileConfig, io: CliIo, env: NodeJS.ProcessEnv, secrets: SecretStore): Promise<void> {
  const command = new IdentityCommandRunner({ profile, interactive: true, env });
  const clients = createCognitoClients(profile, Date.now, { identityCommand: command });
  let identityId: string;
  try {
    const tokens = await clients.refresher.refresh({ refreshToken: '' }).catch((error: unknown) => {
      if (!(error instanceof LoginRequiredError)) throw error;
      throw new SignInFailedError(`The developerIdentity command of profile "${profile.name}" exited with ${profile.developerIdentity?.notSignedInExitCode}: it did not sign the user in.`, { cause: error });
    });
    identityId = await clients.identityPool.getId(tokens.idToken);
    await clients.identityPool.getCredentials(identityId, tokens.idToken, profile.customRoleArn);
  } finally {
    clients.destroy();
  }
  const sessions = new SessionStore(secrets);
  await saveSession(sessions, profile, {
    v: 1,
    method: 'developer',
    refreshToken: `developer-login:${randomBytes(16).toString('hex')}`,
    username: identityId,
    userPoolId: DEVELOPER_PROVIDER,
    clientId: profile.identityPoolId,
    signedInAt: Date.now(),
    identity: { identityPoolId: profile.identityPoolId, identityId },
  }, io);
  io.stderr(`Signed in as ${identityId} (profile "${profile.name}") through its developerIdentity command, which is run again before each token expires. Nothing secret is kept in the keychain.\n`);
}
