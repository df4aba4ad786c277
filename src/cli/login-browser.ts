import { parseArgs } from 'node:util';
import { BROWSER_LOGIN_TIMEOUT_MS, signInWithBrowser } from '../cognito/browser-sign-in.js';
import { createOAuthClient } from '../cognito/create-cognito-clients.js';
import { readIdTokenClaims } from '../cognito/jwt-claims.js';
import type { SignInTokens } from '../cognito/types.js';
import type { SignInMethod } from '../config/config.js';
import { BrowserLoginNotConfiguredError, ClientSecretError, OAuthClientRefusedError, UsageError } from '../errors.js';
import { SessionStore } from '../store/session-store.js';
import { BrowserLauncher, launcherBaseDir } from './browser-launcher.js';
import { loadCliConfig, pickProfile, pickSignInProfile } from './cli-context.js';
import { openKeychain } from '../app/open-keychain.js';
import { type CliIo, processIo } from './cli-io.js';
import { askClientSecret } from './prompt.js';
import { CLIENT_SECRET_ENV, saveSession } from './save-session.js';

export const LOGIN_BROWSER_HELP = `Browser sign-in (the user pool's managed login, or an OpenID Connect provider):
  cognito-broker login --browser [--no-browser] [--profile P] [--timeout SECONDS] [--client-secret]

  --browser          sign in in the browser: the managed login page (also federated users:
                     Google, SAML, OIDC behind the pool). Needs the profile's "hostedUi"
                     section. A profile with an "oidc" section always signs in this way.
  --no-browser       do not open a browser; print the one-time sign-in URL to open (e.g.
                     over SSH, after ssh -L PORT:127.0.0.1:PORT with the profile's
                     redirectPort)
  --timeout SECONDS  how long to wait for the browser to come back (default 300)
  --client-secret    the app client has a secret: ask for it (masked) and keep it in the
                     keychain. Or set COGNITO_BROKER_CLIENT_SECRET for this one login.

  The browser is sent to a one-time sign-in URL on 127.0.0.1 (through a private page
  file, so that no other local user sees the URL in a process list); it sets a
  cookie, and only the browser holding that cookie can finish this login. The URL is
  also printed here, for a browser that cannot open the file (Ubuntu's snap Firefox):
  it works once; a second use, or an answer without the cookie, is refused and the
  login goes on waiting.`;

const TIMEOUT_MAX_S = 3_600;

/**
 * Whether `login` means the browser: --browser or --no-browser, or a profile that signs in
 * through an OpenID Connect provider (it has no password flow).
 */
export async function wantsBrowserLogin(argv: readonly string[]): Promise<boolean> {
  if (argv.includes('--browser') || argv.includes('--no-browser')) return true;
  const { values } = parseArgs({ args: [...argv], options: { profile: { type: 'string' }, config: { type: 'string' } }, strict: false, allowPositionals: true });
  if (typeof values.profile === 'boolean' || typeof values.config === 'boolean') return false;
  const config = await loadCliConfig(values as { profile?: string; config?: string });
  const profile = pickProfile(config, values.profile as string | undefined);
  return (profile.signInFrom ?? profile).oidc !== undefined;
}

export async function loginWithBrowser(argv: string[], io: CliIo = processIo, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      browser: { type: 'boolean' },
      'no-browser': { type: 'boolean' },
      profile: { type: 'string' },
      config: { type: 'string' },
      timeout: { type: 'string' },
      'client-secret': { type: 'boolean' },
    },
    strict: true,
  });
  const timeoutMs = parseTimeout(values.timeout);
  const config = await loadCliConfig(values);
  const profile = pickSignInProfile(config, values.profile, (line) => io.stderr(line));
  const method: SignInMethod = profile.oidc ? 'oidc' : 'browser';
  const oauth = createOAuthClient(profile);
  const settings = profile.oidc ?? profile.hostedUi;
  if (!oauth || !settings) throw new BrowserLoginNotConfiguredError(profile.name);

  const sessions = new SessionStore(openKeychain(env));
  // As for the password login: --client-secret asks (and replaces a kept one); else this one
  // login's environment; else the secret an earlier login kept.
  const kept = await sessions.loadClientSecret(profile);
  const clientSecret = values['client-secret'] ? await askClientSecret() : (env[CLIENT_SECRET_ENV] || kept);
  // The browser started next inherits this process's environment, and would keep the secret
  // for as long as it runs.
  delete process.env[CLIENT_SECRET_ENV];

  const launcher = new BrowserLauncher({ io, profileName: profile.name, timeoutMs, noBrowser: values['no-browser'] === true, baseDir: launcherBaseDir(env) });
  const tokens = await signInWithBrowser({
    authorizationEndpoint: await oauth.authorizationEndpoint(),
    clientId: profile.clientId,
    redirect: { port: settings.redirectPort, path: settings.redirectPath },
    scopes: settings.scopes,
    extraParameters: profile.oidc?.authorizationParameters ?? (profile.hostedUi?.identityProvider ? { identity_provider: profile.hostedUi.identityProvider } : undefined),
    clientSecret,
    timeoutMs,
    exchange: (exchange) => oauth.exchangeCode(exchange).catch((error: unknown) => {
      throw error instanceof OAuthClientRefusedError ? secretError(error, clientSecret === undefined) : error;
    }),
    onStartUrl: (startUrl, redirectUri) => launcher.handOut(startUrl, redirectUri),
    onStarted: () => void launcher.remove(),
    onRefused: (reason) => io.stderr(`cognito-broker: ${reason}; still waiting.\n`),
  }).finally(() => launcher.remove());

  const username = displayName(tokens);
  await saveSession(sessions, profile, {
    v: 1,
    method,
    refreshToken: tokens.refreshToken,
    username,
    cognitoUsername: readIdTokenClaims(tokens.idToken)['cognito:username'],
    userPoolId: profile.userPoolId,
    clientId: profile.clientId,
    clientSecret,
    signedInAt: Date.now(),
  }, io);
  if (clientSecret !== undefined && clientSecret !== kept) await sessions.saveClientSecret(profile, clientSecret);
  io.stderr(`Signed in as ${username} (profile "${profile.name}") through ${method === 'oidc' ? 'the OpenID Connect provider' : 'the managed login'}. The refresh token is in the OS keychain.\n`);
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return BROWSER_LOGIN_TIMEOUT_MS;
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || seconds < 1 || seconds > TIMEOUT_MAX_S) {
    throw new UsageError(`--timeout takes a number of seconds from 1 to ${TIMEOUT_MAX_S}, not ${JSON.stringify(text.slice(0, 20))}`);
  }
  return seconds * 1000;
}

/** Who signed in, for the message and `status`: the most readable claim the token has. */
function displayName(tokens: SignInTokens): string {
  const claims = readIdTokenClaims(tokens.idToken);
  for (const claim of ['email', 'preferred_username', 'cognito:username', 'sub'] as const) {
    const value = claims[claim];
    if (typeof value === 'string' && value !== '') return value.replace(/[^\x20-\x7e\u00a0-\uffff]/g, '?').slice(0, 128);
  }
  return 'unknown user';
}

/**
 * The token endpoint refused the client: for a client with a secret, the secret is missing
 * or wrong (the code is spent or soon expired, so the login is run again rather than retried).
 */
function secretError(error: OAuthClientRefusedError, missing: boolean): ClientSecretError {
  return new ClientSecretError(missing, `the token endpoint answered ${error.said}; for a browser sign-in, run login --browser --client-secret to type it`, { cause: error });
}
