import { createHash, randomBytes } from 'node:crypto';
import { BrowserLoginTimeoutError, SignInFailedError } from '../errors.js';
import { listenForRedirect, redirectUriFor } from './loopback-redirect.js';
import { readPastedRedirect } from './pasted-redirect.js';
import type { CodeExchange } from './oauth-token-client.js';
import type { SignInTokens } from './types.js';

/** How long `login --browser` waits for the browser by default: time to type a password and an MFA code, not forever. */
export const BROWSER_LOGIN_TIMEOUT_MS = 5 * 60_000;
/**
 * 32 random bytes: a 43-character PKCE verifier (RFC 7636 section 4.1 asks for 43-128), and
 * a state, start key and cookie no one guesses.
 */
const RANDOM_BYTES = 32;

export interface BrowserSignInOptions {
  readonly authorizationEndpoint: string;
  readonly clientId: string;
  readonly redirect: { readonly port: number; readonly path: string };
  readonly scopes: readonly string[];
  /** More authorization request parameters: Cognito's identity_provider, Google's access_type. */
  readonly extraParameters?: Readonly<Record<string, string>> | undefined;
  readonly clientSecret?: string | undefined;
  readonly exchange: (exchange: CodeExchange) => Promise<SignInTokens>;
  /**
   * Called once the listener is up, with the one-time start URL: show it on the terminal or
   * put it in a private file for the browser. Never into argv or the environment of another
   * process: whoever opens it first is the browser the login accepts. (The authorization URL
   * itself is never handed out: the start URL redirects to it.)
   */
  readonly onStartUrl: (startUrl: string, redirectUri: string) => void | Promise<void>;
  /** The start URL was used: a launcher file holding it can go. */
  readonly onStarted?: () => void;
  readonly onRefused?: (reason: string) => void;
  readonly timeoutMs?: number;
  readonly random?: (size: number) => Buffer;
}

/** The authorization request of RFC 6749 section 4.1.1 with PKCE S256 (RFC 7636 section 4.3). */
export interface AuthorizationRequest {
  readonly url: string;
  readonly state: string;
  readonly codeVerifier: string;
}

export function authorizationRequest(options: Pick<BrowserSignInOptions, 'authorizationEndpoint' | 'clientId' | 'scopes' | 'extraParameters' | 'random'> & { readonly redirectUri: string }): AuthorizationRequest {
  const random = options.random ?? randomBytes;
  const codeVerifier = random(RANDOM_BYTES).toString('base64url');
  const state = random(RANDOM_BYTES).toString('base64url');
  const url = new URL(options.authorizationEndpoint);
  // Extra parameters first: they never replace the protocol's own.
  for (const [name, value] of Object.entries(options.extraParameters ?? {})) url.searchParams.set(name, value);
  const parameters = {
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scopes.join(' '),
    state,
    code_challenge: codeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(parameters)) url.searchParams.set(name, value);
  return { url: url.toString(), state, codeVerifier };
}

export function codeChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * The whole browser sign-in: listen on the loopback redirect, hand out the one-time start
 * URL (which sets the browser's cookie and redirects to the authorization URL), wait for the
 * browser's return with our state and cookie, exchange the code with the PKCE verifier.
 * Gives up after `timeoutMs` with a clear error; the listener is always closed.
 */
export async function signInWithBrowser(options: BrowserSignInOptions): Promise<SignInTokens> {
  const timeoutMs = options.timeoutMs ?? BROWSER_LOGIN_TIMEOUT_MS;
  const redirectUri = redirectUriFor(options.redirect.port, options.redirect.path);
  const request = authorizationRequest({ ...options, redirectUri });
  const random = options.random ?? randomBytes;
  let tokens: SignInTokens | undefined;
  const receiver = await listenForRedirect({
    port: options.redirect.port,
    path: options.redirect.path,
    state: request.state,
    startKey: random(RANDOM_BYTES).toString('base64url'),
    browserKey: random(RANDOM_BYTES).toString('base64url'),
    authorizationUrl: request.url,
    cookieMaxAgeS: Math.ceil(timeoutMs / 1000),
    onStarted: options.onStarted,
    complete: async (code) => {
      tokens = await options.exchange({ code, codeVerifier: request.codeVerifier, redirectUri, clientSecret: options.clientSecret });
    },
    onRefused: options.onRefused,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await options.onStartUrl(receiver.startUrl, redirectUri);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BrowserLoginTimeoutError(Math.round(timeoutMs / 1000), redirectUri)), timeoutMs);
    });
    await Promise.race([receiver.done, timeout]);
    return tokens as SignInTokens;
  } finally {
    clearTimeout(timer);
    await receiver.close();
  }
}

export interface PastedSignInOptions extends Omit<BrowserSignInOptions, 'onStartUrl' | 'onStarted'> {
  /**
   * Called once with the authorization URL, to show on the terminal: the user opens it in a
   * browser on any machine. It holds the state and the PKCE challenge, not the verifier.
   */
  readonly onAuthorizationUrl: (authorizationUrl: string, redirectUri: string) => void;
  /**
   * The next address the user pastes (the one the browser ended on); undefined when no more
   * can come (end of input). The signal aborts the wait when the login gives up.
   */
  readonly askRedirect: (signal: AbortSignal) => Promise<string | undefined>;
}

/**
 * The browser sign-in for a browser that cannot reach this machine's 127.0.0.1 (SSH, WSL, a
 * container): the same authorization request (PKCE S256, a fresh state, the registered
 * loopback redirect URI), but nothing listens. The provider sends the browser to the
 * redirect URI, which does not load there, and the user pastes that address here. Only the
 * redirect URI with this login's state counts; anything else is refused (`onRefused`) and
 * asked again. The code is exchanged with the verifier, which never leaves this process, so
 * a code copied by someone else is of no use to them.
 */
export async function signInWithPastedRedirect(options: PastedSignInOptions): Promise<SignInTokens> {
  const timeoutMs = options.timeoutMs ?? BROWSER_LOGIN_TIMEOUT_MS;
  const redirectUri = redirectUriFor(options.redirect.port, options.redirect.path);
  const request = authorizationRequest({ ...options, redirectUri });
  const giveUp = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      giveUp.abort();
      reject(new BrowserLoginTimeoutError(Math.round(timeoutMs / 1000), redirectUri));
    }, timeoutMs);
  });
  try {
    options.onAuthorizationUrl(request.url, redirectUri);
    const code = await Promise.race([pastedCode(options, redirectUri, request.state, giveUp.signal), timeout]);
    return await options.exchange({ code, codeVerifier: request.codeVerifier, redirectUri, clientSecret: options.clientSecret });
  } finally {
    clearTimeout(timer);
    giveUp.abort();
  }
}

async function pastedCode(options: PastedSignInOptions, redirectUri: string, state: string, signal: AbortSignal): Promise<string> {
  for (;;) {
    const text = await options.askRedirect(signal);
    if (signal.aborted) throw new Error('aborted');
    if (text === undefined) throw new SignInFailedError(`No address was pasted: the input ended before the address the browser ended on (${redirectUri}?code=...) came.`);
    const answer = readPastedRedirect(text, { redirectUri, state });
    if (answer.kind === 'code') return answer.code;
    if (answer.kind === 'error') throw new SignInFailedError(`The sign-in in the browser was refused (${answer.reason}).`);
    options.onRefused?.(`that address was refused: ${answer.reason}`);
  }
}
