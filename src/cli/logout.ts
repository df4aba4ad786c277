import { parseArgs } from 'node:util';
import { STORE_POLL_MS } from '../broker/profile-session.js';
import { createCognitoClients } from '../cognito/create-cognito-clients.js';
import { revokeSession, type SignOutOutcome } from '../cognito/sign-out.js';
import type { Config, ProfileConfig } from '../config/config.js';
import { GlobalSignOutUnsupportedError, isBrokerError, RevocationFailedError, StoredSessionInvalidError } from '../errors.js';
import { SessionStore, type StoredSession } from '../store/session-store.js';
import { loadCliConfig, pickSignInProfile } from './cli-context.js';
import { openSecretStore } from '../app/open-secret-store.js';
import { type CliIo, processIo } from './cli-io.js';

export const LOGOUT_HELP = `Usage: cognito-broker logout [--profile P] [--global] [--config PATH]

Signs the profile out: revokes its refresh token, then deletes the profile's keychain
entries (the session, a kept client secret, a remembered device).
  password sessions      RevokeToken at the user pool
  browser sessions       the managed login's /oauth2/revoke
  OIDC sessions          the provider's revocation endpoint (from its discovery document,
                         or oidc.endpoints.revocation)

  --profile P   profile from the config (default: the config's default profile)
  --global      sign the user out of every session, on every device (GlobalSignOut with a
                fresh access token; user pools only; a browser session needs the scope
                aws.cognito.signin.user.admin). If it fails, this session is still revoked.
  --config PATH config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)

Offline, or when the server refuses the revocation, the keychain entries are deleted all the
same: logout then says what did not happen and exits 1 (BRK_ERR_REVOCATION_FAILED), since the
refresh token stays valid until it expires. A running 'cognito-broker serve' watches the
keychain: within 5 seconds it stops serving the profile and drops the tokens and AWS
credentials it held (AWS credentials already handed to a tool stay valid until they expire).`;


export async function logout(argv: string[], io: CliIo = processIo): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { profile: { type: 'string' }, global: { type: 'boolean' }, config: { type: 'string' } },
    strict: true,
  });
  const config = await loadCliConfig(values);
  const profile = pickSignInProfile(config, values.profile, (line) => io.stderr(line));
  if (values.global && profile.oidc) throw new GlobalSignOutUnsupportedError(profile.name);
  const sessions = new SessionStore(openSecretStore(config));

  let session: StoredSession | undefined;
  let unreadable = false;
  try {
    session = await sessions.load(profile);
  } catch (error) {
    if (!(error instanceof StoredSessionInvalidError)) throw error;
    unreadable = true;
  }
  if (!session && !unreadable) {
    const deleted = await sessions.delete(profile);
    io.stderr(`Profile "${profile.name}" was not signed in${deleted ? '; its other keychain entries are deleted' : ''}. Nothing to revoke.\n`);
    return;
  }

  const outcome: SignOutOutcome = session
    ? await revoke(profile, session, values.global === true)
    // Written for another pool or client (or not ours): this profile's client cannot revoke it.
    : { done: false, what: 'the refresh token was NOT revoked: the keychain entry was written for another user pool or client than the config names (or is not cognito-broker\'s)' };
  await deleteEntries(sessions, profile, outcome, io);
  if (outcome.done) io.stderr(`Signed out of profile "${profile.name}": ${outcome.what}; its keychain entries are deleted.\n`);
  await noteRunningDaemon(config, profile, io);
  if (!outcome.done) throw new RevocationFailedError(profile.name, outcome.what, advice(profile), { cause: outcome.cause });
}

/**
 * A running daemon watches the keychain (every STORE_POLL_MS) and drops the deleted session
 * on its own; the user is told so, with its pid, rather than left to wonder.
 */
async function noteRunningDaemon(config: Config, profile: ProfileConfig, io: CliIo): Promise<void> {
  const { findDaemon } = await import('./daemon-client.js');
  const found = await findDaemon(config, { profile: profile.name });
  if (!found.daemon) return;
  const { daemon } = found;
  const phase = await daemon.get('/status')
    .then(({ body }) => ((body as { profiles?: { profile?: unknown; phase?: unknown }[] } | undefined)?.profiles ?? []).find((p) => p.profile === profile.name)?.phase)
    .catch(() => undefined)
    .finally(() => daemon.close());
  if (phase === undefined || phase === 'signed-out') return;
  io.stderr(`Note: the running cognito-broker serve (pid ${daemon.info.pid}) stops serving this profile within ${STORE_POLL_MS / 1000} seconds and drops the tokens and AWS credentials it holds.\n`);
}

async function revoke(profile: ProfileConfig, session: StoredSession, global: boolean): Promise<SignOutOutcome> {
  const clients = createCognitoClients(profile);
  try {
    const { method, refreshToken, username, cognitoUsername, clientSecret, deviceKey } = session;
    return await revokeSession({ method, refreshToken, username, cognitoUsername, clientSecret, deviceKey }, clients, { global });
  } finally {
    clients.destroy();
  }
}

/** The entries go whatever the revocation did; a keychain that refuses is the one reason they stay. */
async function deleteEntries(sessions: SessionStore, profile: ProfileConfig, outcome: SignOutOutcome, io: CliIo): Promise<void> {
  try {
    await sessions.delete(profile);
  } catch (error) {
    const revoked = outcome.done ? `(At the server: ${outcome.what}.)` : `Also, ${outcome.what}.`;
    io.stderr(`cognito-broker: the keychain entries of profile "${profile.name}" could not be deleted (${isBrokerError(error) ? error.code : 'an unexpected error'}). ${revoked} Unlock the keychain and run logout again.\n`);
    throw error;
  }
}

function advice(profile: ProfileConfig): string {
  if (profile.oidc) return 'To end it, remove this app\'s access at the provider (your account\'s security page, or ask its administrator).';
  const flag = profile.name === 'default' ? '' : ` --profile ${profile.name}`;
  return `To end it anyway, sign in again when the user pool can be reached and run: cognito-broker logout --global${flag} (ends every session of the user).`;
}
