import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { RedirectPortInUseError, SignInFailedError } from '../errors.js';
import { nodeHttp } from '../node-http.js';

/**
 * The redirect target of the authorization code flow: http://127.0.0.1:<port><path>,
 * registered with the provider exactly (Cognito compares the whole URL, port included).
 * 127.0.0.1 rather than localhost: "localhost" may resolve to ::1 in the browser while we
 * listen on IPv4 (RFC 8252 section 8.3 recommends the IP literal).
 */
export function redirectUriFor(port: number, path: string): string {
  return `http://127.0.0.1:${port}${path}`;
}

/**
 * The path of the one-time start URL on the same listener. The browser opens it first: it
 * sets the cookie that ties the redirect to this browser and sends the browser on to the
 * provider. Another path when the redirect path is this one.
 */
const START_PATH = '/start';
/** Cookies ignore the port: one name per port keeps two logins on two ports apart. */
const COOKIE_PREFIX = 'cognito-broker-login-';
/** A cookie's Path attribute cannot hold ";" (RFC 6265 section 4.1.1); such a redirect path gets "/". */
const COOKIE_PATH = /^\/[A-Za-z0-9._~!$&'()*+,=:@%/-]*$/;

export interface RedirectOptions {
  readonly port: number;
  readonly path: string;
  /** The `state` sent in the authorization request; a redirect with another one is refused. */
  readonly state: string;
  /**
   * The one-time key of the start URL. It is only ever on the user's terminal or in the
   * user's private launcher file, never in argv: whoever uses the start URL first gets the cookie.
   */
  readonly startKey: string;
  /** Where the start URL sends the browser: the provider's authorization request. */
  readonly authorizationUrl: string;
  /** The value of the cookie the start URL sets and the redirect must bring back. */
  readonly browserKey: string;
  /** How long the cookie lives, in seconds: the login's own wait. */
  readonly cookieMaxAgeS: number;
  /**
   * Turns the code into a session (the token exchange) while the browser waits, so that the
   * page it shows says whether the sign-in worked. Its error is the page's message.
   */
  readonly complete: (code: string) => Promise<void>;
  /** The start URL was used (once): the browser is on its way to the provider. */
  readonly onStarted?: () => void;
  /** A request that was refused (wrong key, used again, wrong state, no cookie): told to the user, the wait goes on. */
  readonly onRefused?: (reason: string) => void;
}

export interface RedirectReceiver {
  readonly redirectUri: string;
  /** The one-time URL the browser opens first (holds the start key: terminal or private file only). */
  readonly startUrl: string;
  /** Settles when a redirect carrying our state and cookie has been handled (resolved) or was an error (rejected). */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 for the browser: first the one-time start URL, which sets an HttpOnly
 * cookie and redirects to the provider; then the browser's return from the provider. Only a
 * GET of the configured path with our `state` (RFC 6749 section 10.12: `state` binds the
 * answer to this login) and our cookie (binds it to the browser that opened the start URL)
 * counts. Another local user can read a process's argv and connect to 127.0.0.1, but knows
 * neither the start key nor the cookie, so cannot answer in the user's place nor end the
 * login: anything refused gets an error page and the wait goes on. The first answer that
 * passes is the only one handled.
 */
export async function listenForRedirect(options: RedirectOptions): Promise<RedirectReceiver> {
  const redirectUri = redirectUriFor(options.port, options.path);
  const startPath = options.path === START_PATH ? `${START_PATH}-sign-in` : START_PATH;
  const startUrl = `http://127.0.0.1:${options.port}${startPath}?key=${encodeURIComponent(options.startKey)}`;
  const cookieName = `${COOKIE_PREFIX}${options.port}`;
  const cookiePath = COOKIE_PATH.test(options.path) ? options.path : '/';
  let settle!: { resolve: () => void; reject: (error: Error) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Not left unhandled if the caller stops waiting (timeout) before it settles.
  done.catch(() => undefined);
  let started = false;
  let handled = false;
  const refuse = (response: ServerResponse, reason: string, status: number, title: string, text: string): void => {
    options.onRefused?.(reason);
    page(response, status, title, text);
  };

  const server = nodeHttp.createServer((request, response) => {
    void handle(request, response).catch(() => page(response, 500, 'Sign-in failed', 'Something went wrong; see the terminal.'));
  });

  const start = (request: IncomingMessage, response: ServerResponse, url: URL): void => {
    if (request.headers.host !== `127.0.0.1:${options.port}`) {
      // The cookie belongs to the name the browser used, and the provider sends the browser
      // back to 127.0.0.1: start there. Nothing is used up by this.
      return redirect(response, 307, `http://127.0.0.1:${options.port}${url.pathname}${url.search}`);
    }
    if (!sameSecret(url.searchParams.get('key') ?? '', options.startKey)) {
      return refuse(response, 'a sign-in link with a wrong key (from another or an earlier login) was refused', 403, 'Sign-in link not valid', 'This sign-in link does not belong to the login that is waiting. Use the link the terminal shows, or start the sign-in from the terminal again.');
    }
    if (started) {
      return refuse(
        response,
        'the one-time sign-in link was opened a second time and refused (if you did not open it twice, another program may have opened it first: press Ctrl-C and log in again)',
        409,
        'Sign-in link already used',
        'This sign-in link works once and was already opened. If that was not you in another tab, press Ctrl-C in the terminal and log in again.',
      );
    }
    started = true;
    redirect(response, 302, options.authorizationUrl, `${cookieName}=${options.browserKey}; Path=${cookiePath}; Max-Age=${options.cookieMaxAgeS}; HttpOnly; SameSite=Lax`);
    options.onStarted?.();
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (request.method !== 'GET' || !isOurHost(request.headers.host, options.port) || (url.pathname !== options.path && url.pathname !== startPath)) {
      return page(response, 404, 'Not found', 'This is cognito-broker waiting for a sign-in redirect; nothing else is here.');
    }
    if (url.pathname === startPath) return start(request, response, url);
    const state = url.searchParams.get('state') ?? '';
    if (!sameSecret(state, options.state)) {
      return refuse(response, 'a redirect with a missing or wrong "state" (from another or an earlier login) was refused', 400, 'Sign-in not accepted', 'This answer does not belong to the login that is waiting (its "state" does not match). Start the sign-in from the terminal again if needed.');
    }
    if (!hasCookie(request.headers.cookie, cookieName, options.browserKey)) {
      return refuse(
        response,
        'a redirect without the cookie of the browser that opened the sign-in link was refused',
        403,
        'Sign-in not accepted',
        'This answer did not come from the browser that opened the sign-in link (its cookie is missing or wrong). If this is that browser and it blocks cookies for 127.0.0.1, allow them and log in again.',
      );
    }
    if (handled) return page(response, 409, 'Already handled', 'This sign-in was already handled; see the terminal.');
    handled = true;
    const error = url.searchParams.get('error');
    const code = url.searchParams.get('code');
    // The cookie has done its work: the browser forgets it with the last page.
    const forget = `${cookieName}=; Path=${cookiePath}; Max-Age=0; HttpOnly; SameSite=Lax`;
    if (error !== null || !code) {
      const description = url.searchParams.get('error_description');
      const reason = error === null ? 'the redirect carried no code' : `${printable(error)}${description ? `: ${printable(description)}` : ''}`;
      page(response, 400, 'Sign-in failed', `The sign-in was refused (${reason}). See the terminal.`, forget);
      return settle.reject(new SignInFailedError(`The sign-in in the browser was refused (${reason}).`));
    }
    try {
      await options.complete(code);
    } catch (failure) {
      page(response, 502, 'Sign-in failed', 'The sign-in could not be completed; the terminal says why.', forget);
      return settle.reject(failure as Error);
    }
    page(response, 200, 'Signed in', 'cognito-broker is signed in. You can close this tab.', forget);
    settle.resolve();
  };

  await listen(server, options.port, redirectUri);
  return {
    redirectUri,
    startUrl,
    done,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function listen(server: Server, port: number, redirectUri: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new RedirectPortInUseError(port, redirectUri) : error));
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/**
 * The browser names 127.0.0.1 (or localhost) and our port. Another Host is a page on some
 * other name resolving to 127.0.0.1 (DNS rebinding), not the provider's redirect.
 */
function isOurHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

/**
 * Compared in constant time: SHA-256 of both sides first, so neither the content nor the
 * length of a secret shows in the timing.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Whether the Cookie header holds `name` with `value` (any of them, when the name comes twice). */
function hasCookie(header: string | undefined, name: string, value: string): boolean {
  let found = false;
  for (const pair of (header ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at < 0 || pair.slice(0, at).trim() !== name) continue;
    // No early exit: every candidate is compared.
    found = sameSecret(pair.slice(at + 1).trim(), value) || found;
  }
  return found;
}

/** Provider text shown on a terminal and a page: printable, short. */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

/** What every answer carries: the URLs hold secrets (key, code), so no caching and no Referer. */
const PRIVATE_HEADERS = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  connection: 'close',
} as const;

function page(response: ServerResponse, status: number, title: string, text: string, cookie?: string): void {
  if (response.headersSent) return;
  const body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
  response.writeHead(status, {
    ...PRIVATE_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': "default-src 'none'",
    ...(cookie ? { 'set-cookie': cookie } : {}),
  });
  response.end(body);
}

function redirect(response: ServerResponse, status: 302 | 307, location: string, cookie?: string): void {
  response.writeHead(status, { ...PRIVATE_HEADERS, location, ...(cookie ? { 'set-cookie': cookie } : {}) });
  response.end();
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
