import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { BROWSER_LOGIN_TIMEOUT_MS, type BrowserSignInOptions, signInWithBrowser, signInWithPastedRedirect } from '../cognito/browser-sign-in.js';
import { createOAuthClient } from '../cognito/create-cognito-clients.js';
import { readIdTokenClaims } from '../cognito/jwt-claims.js';
import type { SignInTokens } from '../cognito/types.js';
import type { SignInMethod } from '../config/config.js';
import { BrowserLoginNotConfiguredError, ClientSecretError, OAuthClientRefusedError, UsageError } from '../errors.js';
import { SessionStore } from '../store/session-store.js';
import { BrowserLauncher, formatDuration, launcherBaseDir } from './browser-launcher.js';
import { loadCliConfig, pickProfile, pickSignInProfile } from './cli-context.js';
import { openSecretStore } from '../app/open-secret-store.js';
import { type CliIo, processIo } from './cli-io.js';
import { askClientSecret, RedirectPrompt } from './prompt.js';
import { remoteSessionReason } from './remote-session.js';
import { CLIENT_SECRET_ENV, saveSession } from './save-session.js';

export const LOGIN_BROWSER_HELP = `Browser sign-in (the user pool's managed login, or an OpenID Connect provider):
  cognito-broker login --browser [--remote | --no-remote | --no-browser] [--profile P]
                        [--timeout SECONDS] [--client-secret]

  --browser          sign in in the browser: the managed login page (also federated users:
                     Google, SAML, OIDC behind the pool). Needs the profile's "hostedUi"
                     section. A profile with an "oidc" section always signs in this way.
  --no-browser       do not open a browser; print the one-time sign-in URL to open and
                     wait on 127.0.0.1 (a browser on this machine, or over SSH after
                     ssh -L PORT:127.0.0.1:PORT with the profile's redirectPort)
  --remote           for a browser that cannot reach this machine (SSH, WSL, a container):
                     print the sign-in URL to open in a browser on any machine; after the
                     sign-in the browser goes to the profile's 127.0.0.1 redirect URL,
                     which does not load there: paste that address back here. Chosen on
                     its own (and said) in an SSH session (SSH_CONNECTION), under WSL, and
                     on Linux with no display (no DISPLAY, WAYLAND_DISPLAY or BROWSER).
                     Without a terminal the address is read as a line of standard input.
  --no-remote        wait for the browser on 127.0.0.1 even where --remote would be chosen
                     (a browser on this machine, or one through ssh -L)
  --timeout SECONDS  how long to wait for the browser to come back (default 300)
  --client-secret    the app client has a secret: ask for it (masked) and keep it in the
                     keychain. Or set COGNITO_BROKER_CLIENT_SECRET for this one login.

  The browser is sent to a one-time sign-in URL on 127.0.0.1 (through a private page
  file, so that no other local user sees the URL in a process list); it sets a
  cookie, and only the browser holding that cookie can finish this login. The URL is
  also printed here, for a browser that cannot open the file (Ubuntu's snap Firefox):
  it works once; a second use, or an answer without the cookie, is refused and the
  login goes on waiting. With --remote, the pasted address must be the redirect URL
  carrying this login's "state"; anything else is refused and asked again, and the
  code in it is exchanged with a PKCE verifier that never leaves this process.`;

const TIMEOUT_MAX_S = 3_600;

/** What either way of signing in in the browser needs. */
type SignInRequest = Omit<BrowserSignInOptions, 'onStartUrl'>;

/**
 * Whether `login` means the browser: --browser or --no-browser, or a profile that signs in
 * through an OpenID Connect provider (it has no password flow).
 */
export async function wantsBrowserLogin(argv: readonly string[]): Promise<boolean> {
  if (['--browser', '--no-browser', '--remote', '--no-remote'].some((flag) => argv.includes(flag))) return true;
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
      remote: { type: 'boolean' },
      'no-remote': { type: 'boolean' },
      profile: { type: 'string' },
      config: { type: 'string' },
      timeout: { type: 'string' },
      'client-secret': { type: 'boolean' },
    },
    strict: true,
  });
  const timeoutMs = parseTimeout(values.timeout);
  if (values.remote && values['no-remote']) throw new UsageError('--remote and --no-remote cannot go together');
  const config = await loadCliConfig(values);
  const profile = pickSignInProfile(config, values.profile, (line) => io.stderr(line));
  const method: SignInMethod = profile.oidc ? 'oidc' : 'browser';
  const oauth = createOAuthClient(profile);
  const settings = profile.oidc ?? profile.hostedUi;
  if (!oauth || !settings) throw new BrowserLoginNotConfiguredError(profile.name);

  const secrets = openSecretStore(config, env);
  const sessions = new SessionStore(secrets);
  // As for the password login: --client-secret asks (and replaces a kept one); else this one
  // login's environment; else the secret an earlier login kept.
  const kept = await sessions.loadClientSecret(profile);
  const clientSecret = values['client-secret'] ? await askClientSecret() : (env[CLIENT_SECRET_ENV] || kept);
  // The browser started next inherits this process's environment, and would keep the secret
  // for as long as it runs.
  delete process.env[CLIENT_SECRET_ENV];

  const request: SignInRequest = {
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
  };
  const remote = values.remote === true || (!values['no-remote'] && !values['no-browser'] && announceRemote(env, settings.redirectPort, io));
  const tokens = remote ? await signInRemotely(request, profile.name, io) : await signInOnLoopback(request, profile.name, values['no-browser'] === true, env, io);

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
  io.stderr(`Signed in as ${username} (profile "${profile.name}") through ${method === 'oidc' ? 'the OpenID Connect provider' : 'the managed login'}. The refresh token is in ${secrets.description}.\n`);
}

async function signInOnLoopback(request: SignInRequest, profileName: string, noBrowser: boolean, env: NodeJS.ProcessEnv, io: CliIo): Promise<SignInTokens> {
  const launcher = new BrowserLauncher({ io, profileName, timeoutMs: request.timeoutMs ?? BROWSER_LOGIN_TIMEOUT_MS, noBrowser, baseDir: launcherBaseDir(env) });
  return signInWithBrowser({
    ...request,
    onStartUrl: (startUrl, redirectUri) => launcher.handOut(startUrl, redirectUri),
    onStarted: () => void launcher.remove(),
    onRefused: (reason) => io.stderr(`cognito-broker: ${reason}; still waiting.\n`),
  }).finally(() => launcher.remove());
}

/** The sign-in with a pasted address: the URL on the terminal, the address read back. */
async function signInRemotely(request: SignInRequest, profileName: string, io: CliIo): Promise<SignInTokens> {
  const prompt = new RedirectPrompt();
  const within = formatDuration(request.timeoutMs ?? BROWSER_LOGIN_TIMEOUT_MS);
  try {
    return await signInWithPastedRedirect({
      ...request,
      onAuthorizationUrl: (url, redirectUri) => io.stderr(
        `To sign in to profile "${profileName}", open this URL in a browser on any machine:\n\n  ${url}\n\n` +
          `After the sign-in, the browser goes to ${redirectUri}?code=... and shows an error (nothing listens\n` +
          `there, as expected). Copy that whole address from the address bar and paste it here, within ${within}.\n`,
      ),
      askRedirect: prompt.ask,
      onRefused: (reason) => io.stderr(`cognito-broker: ${reason}. Paste the address again (Ctrl-C to give up).\n`),
    });
  } finally {
    prompt.close();
  }
}

/**
 * Whether this shell's browser likely cannot reach 127.0.0.1 here; if so, says that the login
 * signs in with a pasted address, and how to wait on 127.0.0.1 instead.
 */
function announceRemote(env: NodeJS.ProcessEnv, port: number, io: CliIo): boolean {
  const reason = remoteSessionReason({ env, platform: process.platform, exists: existsSync });
  if (reason === undefined) return false;
  io.stderr(`cognito-broker: ${reason}, so a browser may not reach 127.0.0.1:${port} here: signing in with a pasted address (--remote). Pass --no-remote to wait on 127.0.0.1 instead (a browser on this machine, or ssh -L ${port}:127.0.0.1:${port}).\n`);
  return true;
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
