import { once } from 'node:events';
import { createServer } from 'node:net';
import t from 'tap';
import { authorizationRequest, codeChallenge, signInWithBrowser } from '../../src/cognito/browser-sign-in.js';
import { listenForRedirect, redirectUriFor } from '../../src/cognito/loopback-redirect.js';
import type { CodeExchange } from '../../src/cognito/oauth-token-client.js';
import type { SignInTokens } from '../../src/cognito/types.js';
import { BrowserLoginTimeoutError, RedirectPortInUseError, SignInFailedError, UpstreamRejectedError } from '../../src/errors.js';
import { freePort } from '../support/browser-login.js';

const TOKENS: SignInTokens = { idToken: 'id', accessToken: 'access', refreshToken: 'refresh', expiresAt: 2, issuedAt: 1 };

t.test('the authorization request: code, PKCE S256, a fresh state, the exact redirect URI; extra parameters never replace ours', async (t) => {
  const request = authorizationRequest({
    authorizationEndpoint: 'https://p.auth.eu-west-1.amazoncognito.com/oauth2/authorize',
    clientId: 'client-1',
    redirectUri: 'http://127.0.0.1:53682/callback',
    scopes: ['openid', 'email'],
    extraParameters: { identity_provider: 'Google', state: 'attacker', client_id: 'other' },
  });
  const url = new URL(request.url);
  t.equal(url.origin + url.pathname, 'https://p.auth.eu-west-1.amazoncognito.com/oauth2/authorize');
  t.same(Object.fromEntries(url.searchParams), {
    identity_provider: 'Google',
    state: request.state,
    client_id: 'client-1',
    response_type: 'code',
    redirect_uri: 'http://127.0.0.1:53682/callback',
    scope: 'openid email',
    code_challenge: codeChallenge(request.codeVerifier),
    code_challenge_method: 'S256',
  });
  t.match(request.codeVerifier, /^[A-Za-z0-9_-]{43}$/, 'RFC 7636: 43 characters of base64url');
  t.not(authorizationRequest({ authorizationEndpoint: 'https://x/a', clientId: 'c', redirectUri: 'http://127.0.0.1:1/', scopes: ['openid'] }).state, request.state, 'a new state every time');
  // RFC 7636 appendix B.
  t.equal(codeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
});

/** Plays the browser: waits for the URL, then calls back with what `answer` makes of it. */
function browser(answer: (request: URL, redirectUri: string) => Promise<void>) {
  return (url: string, redirectUri: string) => {
    setImmediate(() => void answer(new URL(url), redirectUri));
  };
}

t.test('the browser\'s return with our state completes the sign-in with the PKCE verifier', async (t) => {
  const port = await freePort();
  let exchanged: CodeExchange | undefined;
  let page = '';
  const tokens = await signInWithBrowser({
    authorizationEndpoint: 'https://idp.example.com/authorize',
    clientId: 'c',
    redirect: { port, path: '/callback' },
    scopes: ['openid'],
    clientSecret: 'sec',
    exchange: async (exchange) => {
      exchanged = exchange;
      return TOKENS;
    },
    onAuthorizationUrl: browser(async (url, redirectUri) => {
      const response = await fetch(`${redirectUri}?code=abc&state=${url.searchParams.get('state')}`);
      page = `${response.status} ${response.headers.get('cache-control')} ${await response.text()}`;
    }),
  });
  t.same(tokens, TOKENS);
  t.equal(exchanged?.code, 'abc');
  t.equal(exchanged?.redirectUri, `http://127.0.0.1:${port}/callback`);
  t.equal(exchanged?.clientSecret, 'sec');
  t.match(exchanged?.codeVerifier, /^[\w-]{43}$/);
  await t.resolveMatch(fetch(`http://127.0.0.1:${port}/callback`).then(() => 'open', () => 'closed'), 'closed', 'the listener is closed afterwards');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(page, /^200 no-store .*Signed in/);
});

t.test('wrong or missing state, another path or another Host are refused, and the wait goes on', async (t) => {
  const port = await freePort();
  const refusals: string[] = [];
  const statuses: number[] = [];
  await signInWithBrowser({
    authorizationEndpoint: 'https://idp.example.com/authorize',
    clientId: 'c',
    redirect: { port, path: '/cb' },
    scopes: ['openid'],
    exchange: async () => TOKENS,
    onRefused: (reason) => refusals.push(reason),
    onAuthorizationUrl: browser(async (url, redirectUri) => {
      const state = url.searchParams.get('state') as string;
      // Another state: its last character changed (to one it is not, or 1 run in 64 would match).
      const wrong = `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`;
      statuses.push((await fetch(`${redirectUri}?code=x&state=${wrong}`)).status);
      statuses.push((await fetch(`${redirectUri}?code=x`)).status);
      statuses.push((await fetch(`http://127.0.0.1:${port}/other?code=x&state=${state}`)).status);
      statuses.push((await fetch(`${redirectUri}?code=x&state=${state}`, { method: 'POST' })).status);
      // A page on a rebound DNS name pointing at 127.0.0.1.
      statuses.push(await rawGet(port, `/cb?code=x&state=${state}`, `evil.example.com:${port}`));
      await fetch(`${redirectUri}?code=x&state=${state}`);
    }),
  });
  t.same(statuses, [400, 400, 404, 404, 404]);
  t.equal(refusals.length, 2, 'the two state refusals are told to the user');
});

t.test('an error from the provider ends the sign-in with its words; a failed exchange with its error', async (t) => {
  const port = await freePort();
  const denied = signInWithBrowser({
    authorizationEndpoint: 'https://idp.example.com/authorize',
    clientId: 'c',
    redirect: { port, path: '/cb' },
    scopes: ['openid'],
    exchange: async () => TOKENS,
    onAuthorizationUrl: browser(async (url, redirectUri) => void (await fetch(`${redirectUri}?error=access_denied&error_description=User%20said%20no%1b[31m&state=${url.searchParams.get('state')}`))),
  });
  await t.rejects(denied, SignInFailedError);
  await denied.catch((error: Error) => {
    t.match(error.message, /refused \(access_denied: User said no\?\[31m\)/);
    t.notMatch(error.message, /\x1b/, 'no terminal escapes from the provider');
  });

  let page: Promise<number> | undefined;
  const failing = signInWithBrowser({
    authorizationEndpoint: 'https://idp.example.com/authorize',
    clientId: 'c',
    redirect: { port, path: '/cb' },
    scopes: ['openid'],
    exchange: async () => {
      throw new UpstreamRejectedError('invalid_client');
    },
    onAuthorizationUrl: (url) => {
      page = fetch(`${redirectUriFor(port, '/cb')}?code=c&state=${new URL(url).searchParams.get('state')}`).then((r) => r.status);
    },
  });
  await t.rejects(failing, UpstreamRejectedError);
  t.equal(await page, 502, 'the page says it failed');
});

t.test('no return within the timeout ends the wait with a clear error', async (t) => {
  const port = await freePort();
  const started = Date.now();
  await t.rejects(
    signInWithBrowser({ authorizationEndpoint: 'https://x/a', clientId: 'c', redirect: { port, path: '/cb' }, scopes: ['openid'], exchange: async () => TOKENS, onAuthorizationUrl: () => undefined, timeoutMs: 200 }),
    { name: 'BrowserLoginTimeoutError', message: new RegExp(`within 0 s.*http://127\\.0\\.0\\.1:${port}/cb`) },
  );
  t.ok(Date.now() - started < 2_000);
  t.type(new BrowserLoginTimeoutError(300, 'u'), BrowserLoginTimeoutError);
  // The port is free again: a new login can listen at once.
  const again = await listenForRedirect({ port, path: '/cb', state: 's', complete: async () => undefined });
  await again.close();
});

t.test('a taken port is its own error, naming the URL', async (t) => {
  const port = await freePort();
  const blocker = createServer().listen(port, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => new Promise((resolve) => blocker.close(resolve)));
  await t.rejects(listenForRedirect({ port, path: '/cb', state: 's', complete: async () => undefined }), RedirectPortInUseError);
  t.equal(redirectUriFor(port, '/cb'), `http://127.0.0.1:${port}/cb`);
});

async function rawGet(port: number, path: string, host: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
