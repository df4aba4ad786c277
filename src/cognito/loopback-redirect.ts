import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RedirectPortInUseError, SignInFailedError } from '../errors.js';

/**
 * The redirect target of the authorization code flow: http://127.0.0.1:<port><path>,
 * registered with the provider exactly (Cognito compares the whole URL, port included).
 * 127.0.0.1 rather than localhost: "localhost" may resolve to ::1 in the browser while we
 * listen on IPv4 (RFC 8252 section 8.3 recommends the IP literal).
 */
export function redirectUriFor(port: number, path: string): string {
  return `http://127.0.0.1:${port}${path}`;
}

export interface RedirectOptions {
  readonly port: number;
  readonly path: string;
  /** The `state` sent in the authorization request; a redirect with another one is refused. */
  readonly state: string;
  /**
   * Turns the code into a session (the token exchange) while the browser waits, so that the
   * page it shows says whether the sign-in worked. Its error is the page's message.
   */
  readonly complete: (code: string) => Promise<void>;
  /** A redirect that was refused (wrong state, no code): told to the user, the wait goes on. */
  readonly onRefused?: (reason: string) => void;
}

export interface RedirectReceiver {
  readonly redirectUri: string;
  /** Settles when a redirect carrying our state has been handled (resolved) or was an error (rejected). */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 for the browser's return from the provider. Only a GET of the
 * configured path with our `state` counts (RFC 6749 section 10.12: `state` binds the answer
 * to this login); anything else gets an error page and the wait goes on, so a stale tab or
 * another local process cannot end the login. The first answer with our state is the only
 * one handled.
 */
export async function listenForRedirect(options: RedirectOptions): Promise<RedirectReceiver> {
  const redirectUri = redirectUriFor(options.port, options.path);
  let settle!: { resolve: () => void; reject: (error: Error) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // Not left unhandled if the caller stops waiting (timeout) before it settles.
  done.catch(() => undefined);
  let handled = false;

  const server = createServer((request, response) => {
    void handle(request, response).catch(() => page(response, 500, 'Sign-in failed', 'Something went wrong; see the terminal.'));
  });
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (request.method !== 'GET' || url.pathname !== options.path || !isOurHost(request.headers.host, options.port)) {
      return page(response, 404, 'Not found', 'This is cognito-broker waiting for a sign-in redirect; nothing else is here.');
    }
    const state = url.searchParams.get('state') ?? '';
    if (!sameText(state, options.state)) {
      options.onRefused?.('a redirect with a missing or wrong "state" (from another or an earlier login) was refused');
      return page(response, 400, 'Sign-in not accepted', 'This answer does not belong to the login that is waiting (its "state" does not match). Start the sign-in from the terminal again if needed.');
    }
    if (handled) return page(response, 409, 'Already handled', 'This sign-in was already handled; see the terminal.');
    handled = true;
    const error = url.searchParams.get('error');
    const code = url.searchParams.get('code');
    if (error !== null || !code) {
      const description = url.searchParams.get('error_description');
      const reason = error === null ? 'the redirect carried no code' : `${printable(error)}${description ? `: ${printable(description)}` : ''}`;
      page(response, 400, 'Sign-in failed', `The sign-in was refused (${reason}). See the terminal.`);
      return settle.reject(new SignInFailedError(`The sign-in in the browser was refused (${reason}).`));
    }
    try {
      await options.complete(code);
    } catch (failure) {
      page(response, 502, 'Sign-in failed', 'The sign-in could not be completed; the terminal says why.');
      return settle.reject(failure as Error);
    }
    page(response, 200, 'Signed in', 'cognito-broker is signed in. You can close this tab.');
    settle.resolve();
  };

  await listen(server, options.port, redirectUri);
  return {
    redirectUri,
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

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Provider text shown on a terminal and a page: printable, short. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

function page(response: ServerResponse, status: number, title: string, text: string): void {
  if (response.headersSent) return;
  const body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
  response.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    // The URL held a code: keep it out of caches and out of the Referer of any next page.
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'",
    connection: 'close',
  });
  response.end(body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
