/**
 * The managed login (hosted UI) endpoints of the user pool emulator, after Cognito's
 * "User pool endpoints" reference:
 *
 *   GET  /oauth2/authorize   code flow only; PKCE S256 and state; serves a minimal sign-in form
 *   POST /oauth2/authorize   username + password form fields → 302 to the exact registered
 *                            redirect_uri with `code` and `state`
 *   POST /oauth2/token       authorization_code (with code_verifier) and refresh_token grants;
 *                            a client with a secret authenticates with HTTP Basic
 *   POST /oauth2/revoke      revokes a refresh token (and the tokens issued from it)
 *   GET  /oauth2/userInfo    the user's attributes for a Bearer access token
 *   GET  /<poolId>/.well-known/openid-configuration and /<poolId>/.well-known/jwks.json
 *
 * Errors are `400 {"error": "..."}` as the real token endpoint answers them. The managed
 * login here asks for no MFA and no new password: such users sign in through the API.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWK } from 'jose';
import { readBody } from '../../http.js';
import { safeEqual } from './secrets.js';
import type { OAuthEndpoint } from './types.js';

export interface TokenSet {
  id_token: string;
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  token_type: 'Bearer';
}

export interface OAuthClient {
  clientId: string;
  clientSecret?: string;
  callbackUrls: readonly string[];
}

/** What the endpoints need from the pool. */
export interface ManagedLoginBackend {
  url: string;
  issuer: string;
  userPoolId: string;
  /** Default 300. */
  authorizationCodeSeconds: number | undefined;
  now(): number;
  jwks(): { keys: JWK[] };
  /** Counts a request; throws an injected fault (`{type, status, message}`) when one is due. */
  count(endpoint: OAuthEndpoint): void;
  client(clientId: string): OAuthClient | undefined;
  /** The internal username when the password is right. */
  checkPassword(username: string, password: string): string | undefined;
  issueTokens(username: string, clientId: string): Promise<TokenSet>;
  /** Throws OAuthError('invalid_grant') for an unusable token. */
  refresh(refreshToken: string, clientId: string): Promise<TokenSet>;
  revoke(token: string, clientId: string): 'ok' | 'unauthorized' | 'unsupported';
  userInfo(accessToken: string): Promise<Record<string, unknown> | undefined>;
}

export interface ManagedLogin {
  /** Answers the request when it is one of ours; false leaves it to the caller. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

/** An OAuth error answered as `{"error": code, "error_description": message}`. */
export class OAuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'OAuthError';
  }
}

export const DEFAULT_AUTHORIZATION_CODE_SECONDS = 300;
const MAX_FORM_BYTES = 16 * 1024;
const CODE_BYTES = 24;
const AUTHORIZE_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'scope', 'code_challenge', 'code_challenge_method', 'nonce'] as const;

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  username: string;
  codeChallenge: string | undefined;
  expiresAt: number;
  used: boolean;
}

interface AuthorizeRequest {
  client: OAuthClient;
  redirectUri: string;
  params: URLSearchParams;
}

export function createManagedLogin(backend: ManagedLoginBackend): ManagedLogin {
  const codes = new Map<string, AuthorizationCode>();
  const codeMs = (backend.authorizationCodeSeconds ?? DEFAULT_AUTHORIZATION_CODE_SECONDS) * 1000;
  const wellKnown = `/${backend.userPoolId}/.well-known/`;

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>> = {
    'GET /oauth2/authorize': async (_req, res, url) => {
      backend.count('oauth2/authorize');
      const request = checkAuthorize(url.searchParams, res);
      if (request) sendHtml(res, 200, loginPage(request.params));
    },
    'POST /oauth2/authorize': async (req, res, url) => {
      backend.count('oauth2/authorize');
      const form = await readForm(req);
      const params = new URLSearchParams(url.searchParams);
      for (const name of AUTHORIZE_PARAMS) {
        const value = form.get(name);
        if (value !== null) params.set(name, value);
      }
      const request = checkAuthorize(params, res);
      if (!request) return;
      const username = backend.checkPassword(form.get('username') ?? '', form.get('password') ?? '');
      if (username === undefined) {
        sendHtml(res, 200, loginPage(params, 'Incorrect username or password.'));
        return;
      }
      const code = randomBytes(CODE_BYTES).toString('base64url');
      codes.set(code, {
        clientId: request.client.clientId,
        redirectUri: request.redirectUri,
        username,
        codeChallenge: params.get('code_challenge') ?? undefined,
        expiresAt: backend.now() + codeMs,
        used: false,
      });
      redirect(res, request.redirectUri, { code, state: params.get('state') });
    },
    'POST /oauth2/token': async (req, res) => {
      backend.count('oauth2/token');
      const form = await readForm(req);
      const client = authenticateClient(req, form);
      const grant = form.get('grant_type');
      if (grant === 'authorization_code') sendJson(res, 200, await exchangeCode(client, form));
      else if (grant === 'refresh_token') sendJson(res, 200, await refreshGrant(client, form));
      else throw new OAuthError('unsupported_grant_type', `grant_type ${grant ?? '(none)'} is not supported.`);
    },
    'POST /oauth2/revoke': async (req, res) => {
      backend.count('oauth2/revoke');
      const form = await readForm(req);
      const client = authenticateClient(req, form, 'unauthorized_client');
      const token = form.get('token');
      if (!token) throw new OAuthError('invalid_request', 'token is required.');
      const outcome = backend.revoke(token, client.clientId);
      if (outcome === 'unsupported') throw new OAuthError('unsupported_token_type', 'Only refresh tokens can be revoked.');
      if (outcome === 'unauthorized') throw new OAuthError('unauthorized_client', 'The token was not issued to this client.');
      res.writeHead(200, { 'content-length': 0 }).end();
    },
    'GET /oauth2/userInfo': async (req, res) => {
      backend.count('oauth2/userInfo');
      const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const info = bearer ? await backend.userInfo(bearer) : undefined;
      if (!info) throw new OAuthError('invalid_token', 'Access token is missing, invalid or revoked.', 401);
      sendJson(res, 200, info);
    },
    [`GET ${wellKnown}openid-configuration`]: async (_req, res) => sendJson(res, 200, discovery(backend)),
    [`GET ${wellKnown}jwks.json`]: async (_req, res) => sendJson(res, 200, backend.jwks()),
  };

  function checkAuthorize(params: URLSearchParams, res: ServerResponse): AuthorizeRequest | undefined {
    const client = backend.client(params.get('client_id') ?? '');
    if (!client) {
      sendHtml(res, 400, page('Error', '<p>invalid_request: unknown client_id</p>'));
      return undefined;
    }
    // Cognito matches the exact registered URL (scheme, host, port, path) and never
    // redirects to an unregistered one.
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!client.callbackUrls.includes(redirectUri)) {
      sendHtml(res, 400, page('Error', '<p>redirect_mismatch</p>'));
      return undefined;
    }
    const fail = (error: string, description: string) => {
      redirect(res, redirectUri, { error, error_description: description, state: params.get('state') });
      return undefined;
    };
    if (params.get('response_type') !== 'code') return fail('unsupported_response_type', 'Only response_type=code is supported.');
    const challenge = params.get('code_challenge');
    const method = params.get('code_challenge_method');
    if (challenge !== null && method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256.');
    if (challenge === null && method !== null) return fail('invalid_request', 'code_challenge_method without code_challenge.');
    if (challenge !== null && !/^[A-Za-z0-9_-]{43}$/.test(challenge)) return fail('invalid_request', 'code_challenge is not a base64url SHA-256.');
    return { client, redirectUri, params };
  }

  /** Client authentication: HTTP Basic for a client with a secret, client_id in the body otherwise. */
  function authenticateClient(req: IncomingMessage, form: URLSearchParams, errorCode = 'invalid_client'): OAuthClient {
    const basic = parseBasic(req.headers.authorization);
    const bodyClientId = form.get('client_id');
    const clientId = basic?.clientId ?? bodyClientId ?? '';
    const client = backend.client(clientId);
    if (!client) throw new OAuthError(errorCode, 'Unknown client.');
    if (basic && bodyClientId !== null && bodyClientId !== basic.clientId) throw new OAuthError(errorCode, 'client_id does not match the Authorization header.');
    if (client.clientSecret !== undefined) {
      if (!basic) throw new OAuthError(errorCode, 'This client has a secret: authenticate with HTTP Basic.');
      if (!safeEqual(basic.secret, client.clientSecret)) throw new OAuthError(errorCode, 'Client authentication failed.');
    }
    return client;
  }

  async function exchangeCode(client: OAuthClient, form: URLSearchParams): Promise<TokenSet> {
    const code = form.get('code') ?? '';
    const grant = codes.get(code);
    if (!grant || grant.used || grant.clientId !== client.clientId || backend.now() >= grant.expiresAt) {
      throw new OAuthError('invalid_grant', 'The authorization code is invalid, expired or used.');
    }
    grant.used = true;
    if (form.get('redirect_uri') !== grant.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request.');
    if (grant.codeChallenge !== undefined) {
      const verifier = form.get('code_verifier');
      if (!verifier) throw new OAuthError('invalid_request', 'code_verifier is required.');
      const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
      if (!safeEqual(computed, grant.codeChallenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match code_challenge.');
    }
    return backend.issueTokens(grant.username, client.clientId);
  }

  function refreshGrant(client: OAuthClient, form: URLSearchParams): Promise<TokenSet> {
    const token = form.get('refresh_token');
    if (!token) throw new OAuthError('invalid_request', 'refresh_token is required.');
    return backend.refresh(token, client.clientId);
  }

  return {
    async handle(req, res) {
      const url = new URL(req.url ?? '/', backend.url);
      const route = routes[`${req.method} ${url.pathname}`];
      if (!route) return false;
      try {
        await route(req, res, url);
      } catch (error) {
        if (error instanceof OAuthError) sendJson(res, error.status, { error: error.code, error_description: error.message });
        else if (isInjectedFault(error)) sendJson(res, error.status, { error: error.type, error_description: error.message });
        else throw error;
      }
      return true;
    },
  };
}

function discovery(backend: ManagedLoginBackend): Record<string, unknown> {
  return {
    issuer: backend.issuer,
    authorization_endpoint: `${backend.url}/oauth2/authorize`,
    token_endpoint: `${backend.url}/oauth2/token`,
    revocation_endpoint: `${backend.url}/oauth2/revoke`,
    userinfo_endpoint: `${backend.url}/oauth2/userInfo`,
    end_session_endpoint: `${backend.url}/logout`,
    jwks_uri: `${backend.issuer}/.well-known/jwks.json`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    scopes_supported: ['openid', 'email', 'phone', 'profile'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
    code_challenge_methods_supported: ['S256'],
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const body = await readBody(req, MAX_FORM_BYTES, () => new OAuthError('invalid_request', 'Request body too large.', 413));
  if (type !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
  }
  return new URLSearchParams(body.toString('utf8'));
}

function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { clientId: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
}

function redirect(res: ServerResponse, redirectUri: string, query: Record<string, string | null>): void {
  const location = new URL(redirectUri);
  for (const [name, value] of Object.entries(query)) if (value !== null) location.searchParams.set(name, value);
  res.writeHead(302, { location: location.toString(), 'content-length': 0 }).end();
}

function loginPage(params: URLSearchParams, error?: string): string {
  const hidden = AUTHORIZE_PARAMS.flatMap((name) => {
    const value = params.get(name);
    return value === null ? [] : [`<input type="hidden" name="${name}" value="${escapeHtml(value)}">`];
  }).join('\n');
  return page(
    'Sign in',
    `${error ? `<p role="alert">${escapeHtml(error)}</p>\n` : ''}<form method="post" action="/oauth2/authorize">
${hidden}
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>\n${body}\n</body></html>\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) }).end(html);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

function isInjectedFault(error: unknown): error is { type: string; status: number; message: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { type?: unknown }).type === 'string' &&
    typeof (error as { status?: unknown }).status === 'number'
  );
}
