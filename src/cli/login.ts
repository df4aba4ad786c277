import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { createCognitoClients } from '../cognito/create-cognito-clients.js';
import { readIdTokenClaims } from '../cognito/jwt-claims.js';
import { confirmNewDevice, type PasswordFlow, signIn, type SignInResult } from '../cognito/sign-in.js';
import type { UserPoolClient } from '../cognito/user-pool-client.js';
import type { ProfileConfig } from '../config/config.js';
import { ClientSecretError, isBrokerError, KeychainUnavailableError, UsageError } from '../errors.js';
import { type RememberedDevice, SessionStore } from '../store/session-store.js';
import { loadCliConfig, pickSignInProfile } from './cli-context.js';
import { openSecretStore } from '../app/open-secret-store.js';
import { type CliIo, processIo } from './cli-io.js';
import { askClientSecret, askPassword, askUsername, challengeAsker, isInteractive, parseMfaMethod, StdinLines } from './prompt.js';
import { readStdin } from './read-stdin.js';
import { CLIENT_SECRET_ENV, saveSession } from './save-session.js';
import { LOGIN_BROWSER_HELP, loginWithBrowser, wantsBrowserLogin } from './login-browser.js';

export const LOGIN_HELP = `Usage: cognito-broker login [--profile P] [--username U] [--auth-flow srp|user-password]
                           [--password-stdin] [--mfa-code CODE|-] [--mfa-method sms|totp|email]
                           [--client-secret] [--no-remember-device] [--config PATH]

Signs in to the profile's user pool and keeps the refresh token in the OS keychain. Asks at
the terminal (masked) for the password and for whatever the pool requires: a new password
and required attributes, an MFA code (SMS, email or authenticator app), the choice of MFA
method, or enrolling an authenticator app (a QR code and otpauth:// URI are shown). A wrong
code can be typed again. A running 'cognito-broker serve' picks the new session up within a
few seconds; no restart needed.

  --profile P          profile from the config (default: the config's default profile)
  --username U         user to sign in as (default: the profile's "username", else asked)
  --auth-flow F        srp (default): USER_SRP_AUTH, the password never leaves this machine;
                       user-password: USER_PASSWORD_AUTH, the password goes to the pool (over
                       TLS to AWS; the app client must allow it). Without this flag, a user
                       pool on this machine (endpoints.cognitoIdp on 127.0.0.1, ::1 or
                       localhost, such as cognito-local) that does not implement SRP is signed
                       in to with user-password, and login says so; any other server that
                       says so is an error (BRK_ERR_SRP_UNSUPPORTED), and only an explicit
                       --auth-flow user-password sends it the password.
  --password-stdin     read the password from standard input instead of asking
  --mfa-code CODE      answer the MFA challenge with CODE without asking (an authenticator
                       app's code, or one already received). Visible in 'ps' while login runs:
                       codes are short-lived and single-use, but prefer the prompt or '-'.
                       If the pool refuses it, login fails (BRK_ERR_MFA_CODE_MISMATCH).
  --mfa-code -         read the MFA code as a line of standard input when it is asked for
                       (after the password line with --password-stdin): a script can wait for
                       the "Enter the code" line on stderr, then write the code.
  --mfa-method M       sms, totp or email: the answer when the pool lets the user choose
                       (SELECT_MFA_TYPE) and there is no terminal
  --client-secret      ask for the app client's secret (masked), replacing a stored one.
                       The secret is otherwise asked when the pool says the client has one,
                       and kept in the OS keychain, so it is asked once. Without a terminal,
                       set COGNITO_BROKER_CLIENT_SECRET for that one login (read once, stored
                       in the keychain; never pass it as an argument).
  --no-remember-device do not register this machine as a remembered device when the pool
                       tracks devices (by default it is, so that the next login skips MFA)
  --config PATH        config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)

A pool that tracks devices gets this machine confirmed as a device; its key and password go
to the keychain and the next login authenticates the device instead of asking for MFA.

${LOGIN_BROWSER_HELP}`;

/** Tries at typing the client secret when the pool refuses the one given. */
const CLIENT_SECRET_ATTEMPTS = 3;

const AUTH_FLOWS: Readonly<Record<string, PasswordFlow>> = { srp: 'srp', 'user-password': 'user-password' };

export async function login(argv: string[], io: CliIo = processIo, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // The managed login or an OIDC provider, in the browser: src/cli/login-browser.ts.
  if (await wantsBrowserLogin(argv)) return loginWithBrowser(argv, io, env);
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      username: { type: 'string' },
      'auth-flow': { type: 'string' },
      'password-stdin': { type: 'boolean' },
      'mfa-code': { type: 'string' },
      'mfa-method': { type: 'string' },
      'client-secret': { type: 'boolean' },
      'no-remember-device': { type: 'boolean' },
      config: { type: 'string' },
    },
    strict: true,
  });
  const flow = values['auth-flow'] === undefined ? 'srp' : AUTH_FLOWS[values['auth-flow']];
  if (!flow) throw new UsageError(`--auth-flow must be "srp" or "user-password", not ${JSON.stringify(values['auth-flow'])}`);
  const mfaMethod = parseMfaMethod(values['mfa-method']);
  if (values['mfa-method'] !== undefined && !mfaMethod) throw new UsageError(`--mfa-method must be "sms", "totp" or "email", not ${JSON.stringify(values['mfa-method'])}`);
  const config = await loadCliConfig(values);
  const profile = pickSignInProfile(config, values.profile, (line) => io.stderr(line));
  const username = values.username ?? profile.username ?? (await askUsername());
  // With `--mfa-code -` stdin holds lines: the password, then the code once it has come.
  const stdin = values['mfa-code'] === '-' ? new StdinLines() : undefined;
  const password = values['password-stdin'] ? await (stdin ? readPasswordLine(stdin) : readStdin()) : await askPassword();

  const secrets = openSecretStore(config, env);
  const sessions = new SessionStore(secrets);
  const stored = await readStoredExtras(sessions, profile, username, io, secrets.kind === 'keychain');
  let clientSecret = nonEmpty(env[CLIENT_SECRET_ENV]) ?? (values['client-secret'] ? await askClientSecret() : stored.clientSecret);

  const clients = createCognitoClients(profile);
  let device: RememberedDevice | undefined;
  let result: SignInResult;
  try {
    const ask = challengeAsker({ mfaCode: values['mfa-code'], mfaMethod, stdin, io });
    for (let attempt = 1; ; attempt += 1) {
      try {
        result = await signIn(clients.userPool, {
          flow,
          userPoolId: profile.userPoolId,
          username,
          password,
          clientSecret,
          device: stored.device,
          ask,
          totpIssuer: `Cognito ${profile.userPoolId}`,
          // signIn downgrades only for a user pool on this machine (a local emulator).
          userPoolEndpoint: profile.endpoints?.cognitoIdp,
          onSrpUnsupported: values['auth-flow'] === undefined
            ? () => io.stderr('cognito-broker: the local user pool at endpoints.cognitoIdp does not implement SRP (USER_SRP_AUTH); signing in with USER_PASSWORD_AUTH instead (the password stays on this machine). Pass --auth-flow srp to refuse that.\n')
            : undefined,
        });
        break;
      } catch (error) {
        // The pool says the app client has a secret (or another one): ask for it, at a terminal.
        if (!(error instanceof ClientSecretError) || !isInteractive() || attempt >= CLIENT_SECRET_ATTEMPTS) throw error;
        io.stderr(`${error.missing ? 'This app client has a client secret.' : 'The user pool refused the client secret.'} It is asked once and kept in the OS keychain.\n`);
        clientSecret = await askClientSecret();
      }
    }
    const tokens = result.tokens;
    if (result.deviceRefused) await bestEffort(() => sessions.deleteDevice(profile), 'forget the refused device', io);
    if (result.newDevice && !values['no-remember-device']) device = await rememberDevice(clients.userPool, profile, username, result, io);
    const claims = readIdTokenClaims(tokens.idToken);
    await saveSession(sessions, profile, {
      v: 1,
      method: 'password',
      refreshToken: tokens.refreshToken,
      username,
      cognitoUsername: claims['cognito:username'] ?? result.cognitoUsername,
      userPoolId: profile.userPoolId,
      clientId: profile.clientId,
      clientSecret,
      deviceKey: result.deviceKey,
      signedInAt: Date.now(),
    }, io);
  } finally {
    clients.destroy();
  }
  // After the session: the sign-in is what matters; these only save questions next time.
  if (clientSecret && clientSecret !== stored.clientSecret) await bestEffort(() => sessions.saveClientSecret(profile, clientSecret), 'keep the client secret', io);
  if (device) await bestEffort(() => sessions.saveDevice(profile, device), 'remember this device', io);
  io.stderr(`Signed in as ${username} (profile "${profile.name}"). The refresh token is in ${secrets.description}.\n`);
  if (device) io.stderr('This device is remembered by the user pool: the next login will not ask for an MFA code.\n');
}

async function readPasswordLine(stdin: StdinLines): Promise<string> {
  if (process.stdin.isTTY) return readStdin();
  return (await stdin.next()) ?? '';
}

/**
 * The client secret and remembered device from earlier logins. A locked keychain does not
 * stop the sign-in (the session is written with retries afterwards, and an unlock prompt
 * may be answered meanwhile): it only means the secret may be asked again and MFA not
 * skipped. The kernel keyring and the file store do not unlock by themselves: a store of
 * theirs that fails here fails the login before the user pool is asked (`waitForUnlock` false).
 */
async function readStoredExtras(sessions: SessionStore, profile: ProfileConfig, username: string, io: CliIo, waitForUnlock: boolean): Promise<{ clientSecret?: string | undefined; device?: RememberedDevice | undefined }> {
  try {
    const [clientSecret, device] = await Promise.all([sessions.loadClientSecret(profile), sessions.loadDevice(profile)]);
    // A device is remembered for one user: another user signing in to the profile goes without it.
    const sameUser = device && (device.username === username || device.cognitoUsername === username);
    return { clientSecret, device: sameUser ? device : undefined };
  } catch (error) {
    if (!(error instanceof KeychainUnavailableError) || !waitForUnlock) throw error;
    io.stderr(`cognito-broker: the OS keychain cannot be read (${error.code}); signing in without a stored client secret or remembered device.\n`);
    return {};
  }
}

/** ConfirmDevice for the device the pool started tracking. A failure costs only the MFA skip next time. */
async function rememberDevice(
  userPool: UserPoolClient,
  profile: ProfileConfig,
  username: string,
  result: SignInResult,
  io: CliIo,
): Promise<RememberedDevice | undefined> {
  const newDevice = result.newDevice;
  if (!newDevice) return undefined;
  try {
    const secrets = await confirmNewDevice(userPool, result.tokens.accessToken, newDevice, `cognito-broker on ${hostname()}`);
    const cognitoUsername = readIdTokenClaims(result.tokens.idToken)['cognito:username'] ?? result.cognitoUsername ?? username;
    return { v: 1, userPoolId: profile.userPoolId, username, cognitoUsername, ...secrets };
  } catch (error) {
    const code = isBrokerError(error) ? error.code : 'an unexpected error';
    io.stderr(`cognito-broker: signed in, but this device could not be confirmed with the user pool (${code}); the next login will ask for MFA again.\n`);
    return undefined;
  }
}

async function bestEffort(write: () => Promise<unknown>, what: string, io: CliIo): Promise<void> {
  try {
    await write();
  } catch (error) {
    const code = isBrokerError(error) ? error.code : 'an unexpected error';
    io.stderr(`cognito-broker: could not ${what} in the OS keychain (${code}); the next login will ask again.\n`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
