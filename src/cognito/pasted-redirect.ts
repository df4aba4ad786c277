import { printable, sameSecret } from './loopback-redirect.js';

/** What the address the browser ended on says about this login. */
export type PastedRedirect =
  /** Ours, with a code: exchange it (with the PKCE verifier this process holds). */
  | { readonly kind: 'code'; readonly code: string }
  /** Ours, and the provider refused the sign-in: the login ends with its words. */
  | { readonly kind: 'error'; readonly reason: string }
  /** Not an answer to this login (another address, another or no state): ask again. */
  | { readonly kind: 'refused'; readonly reason: string };

/** What a URL starts with: a scheme and "//". Without one, the text is taken as http://. */
const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Reads the address a browser ended on after the provider redirected it to the loopback
 * redirect URI, as the user pasted it, for a login whose browser cannot reach this machine.
 * It counts only as the redirect URI itself (scheme, host, port and path) carrying this
 * login's `state` (RFC 6749 section 10.12, compared in constant time): anything else is
 * refused, with a reason the user can act on, and the login asks again. Neither the code nor
 * the state is ever part of a reason.
 */
export function readPastedRedirect(text: string, expected: { readonly redirectUri: string; readonly state: string }): PastedRedirect {
  // Terminals and chat tools add spaces, quotes or angle brackets around what was copied.
  const trimmed = text.trim().replace(/^["'<]+|["'>]+$/g, '');
  if (trimmed === '') return { kind: 'refused', reason: 'nothing was pasted' };
  // An address bar may show, and copy, the address without "http://".
  let url: URL;
  try {
    url = new URL(HAS_SCHEME.test(trimmed) ? trimmed : `http://${trimmed}`);
  } catch {
    return { kind: 'refused', reason: `that is not an address; paste the whole address from the browser's address bar, starting with ${expected.redirectUri}` };
  }
  const target = new URL(expected.redirectUri);
  if (url.protocol !== target.protocol || url.host !== target.host || url.pathname !== target.pathname) {
    return { kind: 'refused', reason: `that address is not the redirect to ${expected.redirectUri} (it is on ${printable(`${url.protocol}//${url.host}${url.pathname}`)}); after signing in, the browser goes to ${expected.redirectUri}?code=...: paste that address` };
  }
  if (!sameSecret(url.searchParams.get('state') ?? '', expected.state)) {
    return { kind: 'refused', reason: 'its "state" is missing or belongs to another login (an earlier tab, or a link someone else made); paste the address of the sign-in this login printed' };
  }
  const error = url.searchParams.get('error');
  if (error !== null) {
    const description = url.searchParams.get('error_description');
    return { kind: 'error', reason: `${printable(error)}${description ? `: ${printable(description)}` : ''}` };
  }
  const code = url.searchParams.get('code');
  if (!code) return { kind: 'refused', reason: 'it carries no code (was it cut short?); paste the whole address' };
  return { kind: 'code', code };
}
