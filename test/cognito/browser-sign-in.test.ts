import { once } from 'node:events';
import { createServer } from 'node:net';
import t from 'tap';
import { authorizationRequest, type BrowserSignInOptions, codeChallenge, type PastedSignInOptions, signInWithBrowser, signInWithPastedRedirect } from '../../src/cognito/browser-sign-in.js';
import { listenForRedirect, type RedirectOptions, redirectUriFor } from '../../src/cognito/loopback-redirect.js';
import type { CodeExchange } from '../../src/cognito/oauth-token-client.js';
import type { SignInTokens } from '../../src/cognito/types.js';
import { BrowserLoginTimeoutError, RedirectPortInUseError, SignInFailedError, UpstreamRejectedError } from '../../src/errors.js';
import { freePort } from '../../testkit/ports.js';

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

/** What a browser does with the start URL: GET it, keep the cookie it sets, go on to the provider. */
interface Started {
  readonly status: number;
  readonly authorizationUrl: URL;
  /** The Set-Cookie header as sent. */
  readonly setCookie: string;
  /** The Cookie header the browser sends back: name=value. */
  readonly cookie: string;
  readonly headers: Headers;
}

async function openStart(startUrl: string, headers: Record<string, string> = {}): Promise<Started> {
  const response = await fetch(startUrl, { redirect: 'manual', headers });
  const setCookie = response.headers.getSetCookie()[0] ?? '';
  return { status: response.status, authorizationUrl: new URL(response.headers.get('location') ?? 'about:blank'), setCookie, cookie: setCookie.split(';')[0] ?? '', headers: response.headers };
}

/** The provider's redirect back, as the browser sends it: with its cookies. */
function callback(redirectUri: string, query: string, cookie?: string): Promise<Response> {
  return fetch(`${redirectUri}?${query}`, { headers: cookie === undefined ? {} : { cookie } });
}

/** Plays the browser: waits for the start URL, opens it, then calls back with what `answer` makes of it. */
function browser(answer: (started: Started, redirectUri: string, startUrl: string) => Promise<void>) {
  return (startUrl: string, redirectUri: string) => {
    setImmediate(() => void openStart(startUrl).then((started) => answer(started, redirectUri, startUrl)));
  };
}

function options(port: number, path: string, more: Partial<BrowserSignInOptions> & Pick<BrowserSignInOptions, 'onStartUrl'>): BrowserSignInOptions {
  return { authorizationEndpoint: 'https://idp.example.com/authorize', clientId: 'c', redirect: { port, path }, scopes: ['openid'], exchange: async () => TOKENS, ...more };
}

/** Another value of the same length: its last character changed (to one it is not, or 1 run in 64 would match). */
function other(secret: string): string {
  return `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
}

t.test('the browser that opened the start URL, back with our state and its cookie, completes the sign-in with the PKCE verifier', async (t) => {
  const port = await freePort();
  let exchanged: CodeExchange | undefined;
  let started: Started | undefined;
  let startUrl = '';
  let page = '';
  let starts = 0;
  const tokens = await signInWithBrowser(options(port, '/callback', {
    clientSecret: 'sec',
    timeoutMs: 120_000,
    exchange: async (exchange) => {
      exchanged = exchange;
      return TOKENS;
    },
    onStarted: () => void starts++,
    onStartUrl: browser(async (s, redirectUri, url) => {
      started = s;
      startUrl = url;
      const response = await callback(redirectUri, `code=abc&state=${s.authorizationUrl.searchParams.get('state')}`, s.cookie);
      page = `${response.status} ${response.headers.get('cache-control')} ${response.headers.get('set-cookie')} ${await response.text()}`;
    }),
  }));
  t.same(tokens, TOKENS);
  t.match(startUrl, new RegExp(`^http://127\\.0\\.0\\.1:${port}/start\\?key=[\\w-]{43}$`), 'the start URL: 127.0.0.1, a 256-bit one-time key');
  t.equal(started?.status, 302, 'the start URL redirects');
  t.equal(`${started?.authorizationUrl.origin}${started?.authorizationUrl.pathname}`, 'https://idp.example.com/authorize', 'to the authorization request');
  t.match(started?.authorizationUrl.searchParams.get('state'), /^[\w-]{43}$/);
  t.equal(started?.authorizationUrl.searchParams.get('code_challenge'), codeChallenge(exchanged?.codeVerifier ?? ''), 'with the challenge of the verifier used in the exchange');
  t.match(started?.setCookie, new RegExp(`^cognito-broker-login-${port}=[\\w-]{43}; Path=/callback; Max-Age=120; HttpOnly; SameSite=Lax$`), 'an HttpOnly, SameSite=Lax cookie for the redirect path only, as long as the wait');
  t.equal(started?.headers.get('cache-control'), 'no-store');
  t.equal(started?.headers.get('referrer-policy'), 'no-referrer');
  t.equal(starts, 1, 'onStarted once');
  t.equal(exchanged?.code, 'abc');
  t.equal(exchanged?.redirectUri, `http://127.0.0.1:${port}/callback`);
  t.equal(exchanged?.clientSecret, 'sec');
  t.match(exchanged?.codeVerifier, /^[\w-]{43}$/);
  t.not(startUrl.includes(started?.authorizationUrl.searchParams.get('state') ?? '?'), true, 'the start URL holds neither the state…');
  t.notMatch(startUrl, /code_challenge/, '…nor the challenge');
  await t.resolveMatch(fetch(`http://127.0.0.1:${port}/callback`).then(() => 'open', () => 'closed'), 'closed', 'the listener is closed afterwards');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(page, new RegExp(`^200 no-store cognito-broker-login-${port}=; Path=/callback; Max-Age=0; HttpOnly; SameSite=Lax .*Signed in`), 'the last page makes the browser forget the cookie');
});

t.test('the start URL works once: a second use, a wrong or missing key are refused and the login goes on', async (t) => {
  const port = await freePort();
  const refusals: string[] = [];
  const statuses: number[] = [];
  let starts = 0;
  await signInWithBrowser(options(port, '/cb', {
    onRefused: (reason) => refusals.push(reason),
    onStarted: () => void starts++,
    onStartUrl: (startUrl, redirectUri) => {
      setImmediate(async () => {
        const url = new URL(startUrl);
        const key = url.searchParams.get('key') as string;
        statuses.push((await openStart(startUrl.replace(key, other(key)))).status);
        statuses.push((await openStart(`${url.origin}${url.pathname}`)).status);
        // Through "localhost": sent to 127.0.0.1 first (the provider comes back there), not used up.
        const viaLocalhost = await openStart(startUrl.replace('127.0.0.1', 'localhost'));
        statuses.push(viaLocalhost.status);
        t.equal(viaLocalhost.headers.get('location'), startUrl);
        t.equal(viaLocalhost.setCookie, '', 'no cookie for localhost');
        const first = await openStart(startUrl);
        statuses.push(first.status);
        const second = await openStart(startUrl);
        statuses.push(second.status);
        t.equal(second.setCookie, '', 'the second use gets no cookie');
        t.equal(second.headers.get('location'), null, 'and is not sent on to the provider');
        await callback(redirectUri, `code=x&state=${first.authorizationUrl.searchParams.get('state')}`, first.cookie);
      });
    },
  }));
  t.same(statuses, [403, 403, 307, 302, 409]);
  t.equal(starts, 1);
  t.equal(refusals.length, 3, 'each refusal is told to the user');
  t.match(refusals[2], /opened a second time.*another program may have opened it first.*Ctrl-C/);
});

t.test('a redirect without the cookie, or with a wrong one, is refused even with the right state; the browser that started still completes the login', async (t) => {
  const port = await freePort();
  const refusals: string[] = [];
  const forged: string[] = [];
  let exchanged: string | undefined;
  // Known random bytes (the verifier, then the state, ...), so the test knows the state up front.
  let fill = 0;
  let browserDone: Promise<void> | undefined;
  const knownState = Buffer.alloc(32, 2).toString('base64url');
  const tokens = await signInWithBrowser(options(port, '/cb', {
    random: (size) => Buffer.alloc(size, ++fill),
    exchange: async (exchange) => {
      exchanged = exchange.code;
      return TOKENS;
    },
    onRefused: (reason) => refusals.push(reason),
    onStartUrl: (startUrl, redirectUri) => {
      browserDone = (async () => {
        await new Promise(setImmediate);
        // Before anyone opened the start URL there is no cookie to have, even knowing the state.
        const early = await callback(redirectUri, `code=attacker&state=${knownState}`);
        forged.push(`${early.status} ${/did not come from the browser that opened the sign-in link/.test(await early.text())}`);
        const started = await openStart(startUrl);
        const state = started.authorizationUrl.searchParams.get('state') as string;
        t.equal(state, knownState);
        const [name, value] = started.cookie.split('=') as [string, string];
        const attempts: Array<[string, string | undefined]> = [
          [`code=attacker&state=${state}`, undefined],
          [`code=attacker&state=${state}`, `${name}=${other(value)}`],
          [`code=attacker&state=${state}`, `${name}=`],
          [`code=attacker&state=${state}`, `cognito-broker-login-${port + 1}=${value}`],
          [`code=attacker&state=${state}`, `other=1; ${name}=${value.slice(0, 20)}`],
          // An attacker cannot end the login either.
          [`error=access_denied&state=${state}`, undefined],
        ];
        for (const [query, cookie] of attempts) {
          const response = await callback(redirectUri, query, cookie);
          forged.push(`${response.status} ${/did not come from the browser that opened the sign-in link/.test(await response.text())}`);
        }
        // Two cookies of that name (an old one too): the right one counts.
        const response = await callback(redirectUri, `code=real&state=${state}`, `${name}=${other(value)}; ${started.cookie}`);
        forged.push(`${response.status}`);
      })();
    },
  }));
  await browserDone;
  t.same(tokens, TOKENS);
  t.same(forged, [...Array(7).fill('403 true'), '200']);
  t.equal(exchanged, 'real', 'only the real browser\'s code was exchanged');
  t.equal(refusals.length, 7);
  t.match(refusals[0], /without the cookie of the browser that opened the sign-in link/);
});

t.test('wrong or missing state, another path or another Host are refused, and the wait goes on', async (t) => {
  const port = await freePort();
  const refusals: string[] = [];
  const statuses: number[] = [];
  await signInWithBrowser(options(port, '/cb', {
    onRefused: (reason) => refusals.push(reason),
    onStartUrl: browser(async (started, redirectUri) => {
      const state = started.authorizationUrl.searchParams.get('state') as string;
      const cookie = started.cookie;
      statuses.push((await callback(redirectUri, `code=x&state=${other(state)}`, cookie)).status);
      statuses.push((await callback(redirectUri, 'code=x', cookie)).status);
      statuses.push((await fetch(`http://127.0.0.1:${port}/other?code=x&state=${state}`, { headers: { cookie } })).status);
      statuses.push((await fetch(`${redirectUri}?code=x&state=${state}`, { method: 'POST', headers: { cookie } })).status);
      // A page on a rebound DNS name pointing at 127.0.0.1.
      statuses.push(await rawGet(port, `/cb?code=x&state=${state}`, `evil.example.com:${port}`, cookie));
      await callback(redirectUri, `code=x&state=${state}`, cookie);
    }),
  }));
  t.same(statuses, [400, 400, 404, 404, 404]);
  t.equal(refusals.length, 2, 'the two state refusals are told to the user');
  t.match(refusals[0], /missing or wrong "state"/);
});

t.test('a redirect path of "/start" moves the start URL aside', async (t) => {
  const port = await freePort();
  let startUrl = '';
  await signInWithBrowser(options(port, '/start', {
    onStartUrl: browser(async (started, redirectUri, url) => {
      startUrl = url;
      t.match(started.setCookie, /; Path=\/start;/);
      await callback(redirectUri, `code=x&state=${started.authorizationUrl.searchParams.get('state')}`, started.cookie);
    }),
  }));
  t.match(startUrl, new RegExp(`:${port}/start-sign-in\\?key=`));
});

t.test('an error from the provider ends the sign-in with its words; a failed exchange with its error', async (t) => {
  const port = await freePort();
  const denied = signInWithBrowser(options(port, '/cb', {
    onStartUrl: browser(async (started, redirectUri) => void (await callback(redirectUri, `error=access_denied&error_description=User%20said%20no%1b[31m&state=${started.authorizationUrl.searchParams.get('state')}`, started.cookie))),
  }));
  await t.rejects(denied, SignInFailedError);
  await denied.catch((error: Error) => {
    t.match(error.message, /refused \(access_denied: User said no\?\[31m\)/);
    t.notMatch(error.message, /\x1b/, 'no terminal escapes from the provider');
  });

  let page: Promise<number> | undefined;
  const failing = signInWithBrowser(options(port, '/cb', {
    exchange: async () => {
      throw new UpstreamRejectedError('invalid_client');
    },
    onStartUrl: (startUrl) => {
      page = openStart(startUrl).then((started) => callback(redirectUriFor(port, '/cb'), `code=c&state=${started.authorizationUrl.searchParams.get('state')}`, started.cookie)).then((r) => r.status);
    },
  }));
  await t.rejects(failing, UpstreamRejectedError);
  t.equal(await page, 502, 'the page says it failed');
});

t.test('no return within the timeout ends the wait with a clear error', async (t) => {
  const port = await freePort();
  const started = Date.now();
  await t.rejects(
    signInWithBrowser(options(port, '/cb', { onStartUrl: () => undefined, timeoutMs: 200 })),
    { name: 'BrowserLoginTimeoutError', message: new RegExp(`within 0 s.*http://127\\.0\\.0\\.1:${port}/cb`) },
  );
  t.ok(Date.now() - started < 2_000);
  t.type(new BrowserLoginTimeoutError(300, 'u'), BrowserLoginTimeoutError);
  // The port is free again: a new login can listen at once.
  const again = await listenForRedirect(redirectOptions(port));
  await again.close();
});

t.test('a taken port is its own error, naming the URL', async (t) => {
  const port = await freePort();
  const blocker = createServer().listen(port, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => new Promise((resolve) => blocker.close(resolve)));
  await t.rejects(listenForRedirect(redirectOptions(port)), RedirectPortInUseError);
  t.equal(redirectUriFor(port, '/cb'), `http://127.0.0.1:${port}/cb`);
});

function redirectOptions(port: number): RedirectOptions {
  return { port, path: '/cb', state: 's', startKey: 'k', browserKey: 'b', authorizationUrl: 'https://x/a', cookieMaxAgeS: 1, complete: async () => undefined };
}

async function rawGet(port: number, path: string, host: string, cookie: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, cookie } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A paste flow's options: the authorization URL it printed, and the answers the "user" pastes. */
function pasted(port: number, answers: (authorizationUrl: URL) => (string | undefined)[], overrides: Partial<PastedSignInOptions> = {}) {
  const seen = { authorizationUrl: undefined as URL | undefined, refused: [] as string[], asked: 0, exchanged: undefined as CodeExchange | undefined };
  let queue: (string | undefined)[] = [];
  const options: PastedSignInOptions = {
    authorizationEndpoint: 'https://idp.example.com/authorize',
    clientId: 'client-1',
    redirect: { port, path: '/callback' },
    scopes: ['openid'],
    exchange: async (exchange) => {
      seen.exchanged = exchange;
      return TOKENS;
    },
    onAuthorizationUrl: (url) => {
      seen.authorizationUrl = new URL(url);
      queue = answers(seen.authorizationUrl);
    },
    askRedirect: async () => {
      seen.asked += 1;
      return queue.shift();
    },
    onRefused: (reason) => void seen.refused.push(reason),
    ...overrides,
  };
  return { options, seen };
}

t.test('a pasted address: refused with a wrong state and asked again; the right one is exchanged with the verifier; nothing listens', async (t) => {
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  let listening: Promise<string> | undefined;
  const { options, seen } = pasted(port, (url) => {
    listening = fetch(redirectUri).then(() => 'open', () => 'closed');
    return [
      `${redirectUri}?code=forged&state=not-ours`,
      `http://127.0.0.1:1/callback?code=c&state=${url.searchParams.get('state')}`,
      `${redirectUri}?code=the-code&state=${url.searchParams.get('state')}`,
    ];
  });
  t.same(await signInWithPastedRedirect(options), TOKENS);
  const url = seen.authorizationUrl as URL;
  t.same([url.origin + url.pathname, url.searchParams.get('redirect_uri'), url.searchParams.get('code_challenge_method'), url.searchParams.get('response_type')], ['https://idp.example.com/authorize', redirectUri, 'S256', 'code'], 'the same authorization request, to the registered loopback redirect');
  t.equal(seen.asked, 3);
  t.equal(seen.refused.length, 2);
  t.match(seen.refused[0], /that address was refused: its "state" is missing or belongs to another login/);
  t.match(seen.refused[1], /not the redirect to/);
  t.equal(seen.exchanged?.code, 'the-code');
  t.equal(seen.exchanged?.redirectUri, redirectUri);
  t.equal(url.searchParams.get('code_challenge'), codeChallenge(seen.exchanged?.codeVerifier ?? ''), 'the verifier of the printed challenge');
  t.notOk(url.toString().includes(seen.exchanged?.codeVerifier ?? '?'), 'the verifier is not in the printed URL');
  t.equal(await listening, 'closed', 'no listener on the redirect port');
});

t.test('a pasted error ends the sign-in with its words; the end of input ends it too; no paste within the timeout is the timeout error', async (t) => {
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  const denied = pasted(port, (url) => [`${redirectUri}?error=access_denied&error_description=no&state=${url.searchParams.get('state')}`]);
  await t.rejects(signInWithPastedRedirect(denied.options), { name: 'SignInFailedError', message: /refused \(access_denied: no\)/ });
  t.equal(denied.seen.exchanged, undefined, 'nothing exchanged');

  const ended = pasted(port, () => ['not an address', undefined]);
  await t.rejects(signInWithPastedRedirect(ended.options), { name: 'SignInFailedError', message: /No address was pasted: the input ended/ });
  t.equal(ended.seen.refused.length, 1);

  let aborted = false;
  const started = Date.now();
  const waiting = pasted(port, () => [], {
    timeoutMs: 200,
    askRedirect: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => {
      aborted = true;
      resolve(undefined);
    })),
  });
  await t.rejects(signInWithPastedRedirect(waiting.options), { name: 'BrowserLoginTimeoutError', message: new RegExp(`within 0 s.*http://127\\.0\\.0\\.1:${port}/callback`) });
  t.ok(aborted, 'the pending question was aborted');
  t.ok(Date.now() - started < 2_000);
});
