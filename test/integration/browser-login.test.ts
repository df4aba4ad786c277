/**
 * `login --browser` against cognito-local's managed login (/oauth2/authorize, an HTML form,
 * and /oauth2/token with PKCE), driven by a real HTTP client playing the browser, then
 * `serve` and a real AWS SDK. Also the OpenID Connect profile, with cognito-local standing
 * in for the provider.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import t from 'tap';
import { clientEnv, jsSdkClient } from '../support/aws-clients.js';
import { freePort } from '../../testkit/ports.js';
import { allowCodeFlow, browserLogin, writeProfiles } from '../support/browser-login.js';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { FakeBrowser } from '../support/fake-browser.js';
import { startKeychainWorker } from '../support/secret-service.js';

const FULL_URI = 'AWS_CONTAINER_CREDENTIALS_FULL_URI';
const TOKEN = 'AWS_CONTAINER_AUTHORIZATION_TOKEN';
const TOKEN_FILE = 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE';
/** Short enough to see several refreshes in a test, long enough for a loaded machine. */
const LIFETIME_S = 20;

interface Served {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

async function credentials(exports: Readonly<Record<string, string>>): Promise<Served> {
  const response = await fetch(exports[FULL_URI] as string, { headers: { authorization: exports[TOKEN] as string } });
  if (response.status !== 200) throw new Error(`credentials: ${response.status} ${await response.text()}`);
  return (await response.json()) as Served;
}

t.test('browser sign-in against cognito-local: PKCE code flow, then serve, and the session keeps refreshing', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv({ idTokenLifetimeSeconds: LIFETIME_S, credentialLifetimeSeconds: LIFETIME_S });
  t.teardown(() => be.stop());
  const { stack } = be;
  const port = await freePort();
  await allowCodeFlow(stack, `http://127.0.0.1:${port}/callback`);
  writeProfiles(be, { default: { ...stack.profile, hostedUi: { domain: stack.cognitoIdpUrl, redirectPort: port, scopes: ['openid', 'email'] } } });

  const login = await browserLogin(be, [], stack);
  t.equal(login.result.code, 0, `login exits 0: ${login.result.stderr}`);
  t.match(login.result.stderr, /open this URL in a browser/);
  t.match(login.result.stderr, new RegExp(`Waiting up to 5 min for the browser to come back to http://127\\.0\\.0\\.1:${port}/callback`));
  t.match(login.result.stderr, /Signed in as test-user \(profile "default"\) through the managed login/);
  t.equal(login.visit?.status, 200, 'the browser lands on a page that says it worked');
  t.match(login.visit?.body, /Signed in/);
  const url = new URL(login.url);
  t.same(
    [url.origin + url.pathname, url.searchParams.get('response_type'), url.searchParams.get('code_challenge_method'), url.searchParams.get('scope'), url.searchParams.get('redirect_uri')],
    [`${stack.cognitoIdpUrl}/oauth2/authorize`, 'code', 'S256', 'openid email', `http://127.0.0.1:${port}/callback`],
  );
  t.match(url.searchParams.get('state'), /^[\w-]{43}$/, '256 random bits of state');
  t.match(url.searchParams.get('code_challenge'), /^[\w-]{43}$/);
  t.match(login.startUrl, new RegExp(`^http://127\\.0\\.0\\.1:${port}/start\\?key=[\\w-]{43}$`), 'login printed the one-time start URL');
  for (const name of ['state', 'code_challenge']) t.notOk(login.result.stderr.includes(url.searchParams.get(name) as string), `no ${name} on the terminal: only the start URL`);

  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const stored = JSON.parse((await keychain.get('profile:default')) as string) as { method: string; refreshToken: string; username: string; clientSecret?: string };
  await keychain.stop();
  t.equal(stored.method, 'browser', 'the session is stored as a browser session');
  t.equal(stored.username, 'test-user');
  t.notOk(stored.clientSecret);

  const serve = await startServe(['--log-level', 'trace'], be.env);
  t.teardown(() => serve.stop());
  const first = await credentials(serve.exports);
  t.ok(stack.emulator.issued.has(first.AccessKeyId), 'the identity pool issued them for the browser session');
  const sdk = await jsSdkClient({ region: stack.region, stsUrl: stack.stsUrl, env: clientEnv(be.env, serve.exports, [FULL_URI, TOKEN_FILE]) }, 'default-chain');
  t.match(sdk.arn, /assumed-role/, 'a real AWS SDK signs a call with them');

  // Several lifetimes: every credential set is replaced before it expires.
  const seen = new Set([first.AccessKeyId]);
  const until = Date.now() + 2.5 * LIFETIME_S * 1000;
  while (Date.now() < until) {
    const c = await credentials(serve.exports);
    t.ok(Date.parse(c.Expiration) > Date.now(), 'never expired');
    seen.add(c.AccessKeyId);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  t.ok(seen.size >= 3, `credentials kept changing (${seen.size} sets)`);
  t.notMatch(serve.stderr(), /login-required|BRK_ERR_LOGIN_REQUIRED/, 'the refresh token kept working');

  // No secret in login's output, the page, the log or argv.
  const secrets = { refreshToken: stored.refreshToken, secretKey: first.SecretAccessKey, sessionToken: first.Token, password: stack.password };
  const places = { 'login output': login.result.stdout + login.result.stderr, 'browser page': login.visit?.body ?? '', 'serve log': serve.stderr() };
  for (const [where, text] of Object.entries(places)) {
    for (const [what, secret] of Object.entries(secrets)) t.notOk(text.includes(secret), `no ${what} in the ${where}`);
  }
});

t.test('a redirect with a wrong state, or without the browser\'s cookie, and a second use of the start URL are refused; the login keeps waiting for the right one', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const { stack } = be;
  const port = await freePort();
  await allowCodeFlow(stack, `http://127.0.0.1:${port}/callback`);
  writeProfiles(be, { default: { ...stack.profile, hostedUi: { domain: stack.cognitoIdpUrl, redirectPort: port } } });

  const login = await browserLogin(be, [], stack, async (startUrl) => {
    const browser = new FakeBrowser();
    const url = await browser.start(startUrl);
    const state = new URL(url).searchParams.get('state') as string;
    // An attacker's page (or a stale tab) delivers a code with a state of its own.
    const forged = await browser.fetch(`http://127.0.0.1:${port}/callback?code=forged&state=not-ours`);
    t.equal(forged.status, 400, 'a wrong state is refused');
    t.match(await forged.text(), /does not belong to the login that is waiting/);
    const noState = await browser.fetch(`http://127.0.0.1:${port}/callback?code=forged`);
    t.equal(noState.status, 400, 'so is a missing one');
    const otherPath = await browser.fetch(`http://127.0.0.1:${port}/elsewhere?code=x&state=${state}`);
    t.equal(otherPath.status, 404, 'only the registered path counts');
    // Another local process that somehow knew the state: no cookie, refused; it cannot end the login either.
    const noCookie = await fetch(`http://127.0.0.1:${port}/callback?code=forged&state=${state}`);
    t.equal(noCookie.status, 403, 'the right state without the cookie is refused');
    t.match(await noCookie.text(), /did not come from the browser that opened the sign-in link/);
    const abort = await fetch(`http://127.0.0.1:${port}/callback?error=access_denied&state=${state}`);
    t.equal(abort.status, 403, 'and cannot abort the login');
    const again = await fetch(startUrl, { redirect: 'manual' });
    t.equal(again.status, 409, 'the start URL works once');
    t.equal(again.headers.get('set-cookie'), null);
    return browser.signIn(url, stack.username, stack.password);
  });
  t.equal(login.result.code, 0, login.result.stderr);
  t.match(login.result.stderr, /wrong "state".*refused; still waiting/);
  t.match(login.result.stderr, /without the cookie of the browser that opened the sign-in link was refused; still waiting/);
  t.match(login.result.stderr, /one-time sign-in link was opened a second time and refused/);
  t.match(login.result.stderr, /Signed in as test-user/);
});

t.test('the browser never coming back ends the login with a clear message; a taken port too', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const { stack } = be;
  const port = await freePort();
  writeProfiles(be, { default: { ...stack.profile, hostedUi: { domain: stack.cognitoIdpUrl, redirectPort: port } } });

  const started = Date.now();
  const timedOut = await browserLogin(be, ['--timeout', '2'], stack, async () => undefined);
  t.equal(timedOut.result.code, 1);
  t.match(timedOut.result.stderr, /No sign-in came back from the browser within 2 s.*\[BRK_ERR_BROWSER_LOGIN_TIMEOUT\]/s);
  t.ok(Date.now() - started < 15_000, 'it gave up on time');
  const listenerGone = await fetch(`http://127.0.0.1:${port}/callback`).then(() => false, () => true);
  t.ok(listenerGone, 'and stopped listening');

  const blocker = createServer().listen(port, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => new Promise((resolve) => blocker.close(resolve)));
  const taken = await runCli(['login', '--browser', '--no-browser'], be.env);
  t.equal(taken.code, 1);
  t.match(taken.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use.*\\[BRK_ERR_REDIRECT_PORT_IN_USE\\]`, 's'));

  const bad = await runCli(['login', '--browser', '--timeout', 'soon'], be.env);
  t.equal(bad.code, 2, 'a bad --timeout is a usage error');
  writeProfiles(be, { default: stack.profile });
  const unconfigured = await runCli(['login', '--browser'], be.env);
  t.equal(unconfigured.code, 1);
  t.match(unconfigured.stderr, /no "hostedUi" \(or "oidc"\) section.*\[BRK_ERR_BROWSER_LOGIN_NOT_CONFIGURED\]/s);
});

t.test('an OIDC profile: cognito-local as the provider, its token under the issuer in Logins, serve and an SDK', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const { stack } = be;
  const port = await freePort();
  await allowCodeFlow(stack, `http://127.0.0.1:${port}/callback`);
  const oidc = { issuer: stack.issuer, clientId: stack.clientId, redirectPort: port };
  const profile = { region: stack.region, identityPoolId: stack.identityPoolId, endpoints: { cognitoIdentity: stack.cognitoIdentityUrl } };

  // cognito-local's discovery document names http://localhost:9229 whatever its address,
  // and has no authorization or token endpoint: the broker refuses it, and says what to do.
  writeProfiles(be, { default: { ...profile, oidc } });
  const refused = await runCli(['login', '--no-browser'], be.env);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /names the issuer "http:\/\/localhost:9229\/.*not the configured.*oidc\.endpoints.*\[BRK_ERR_UPSTREAM_REJECTED\]/s);

  // With its endpoints named in the config, the same provider works.
  writeProfiles(be, { default: { ...profile, oidc: { ...oidc, endpoints: { authorization: `${stack.cognitoIdpUrl}/oauth2/authorize`, token: `${stack.cognitoIdpUrl}/oauth2/token` } } } });
  // No --browser: an oidc profile signs in only this way.
  const child = await browserLogin(be, [], stack);
  t.equal(child.result.code, 0, child.result.stderr);
  t.match(child.result.stderr, /through the OpenID Connect provider/);
  t.equal(new URL(child.url).searchParams.get('scope'), 'openid offline_access', 'the default OIDC scopes');

  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const stored = JSON.parse((await keychain.get('profile:default')) as string) as { method: string; userPoolId: string; clientId: string };
  await keychain.stop();
  t.same([stored.method, stored.userPoolId, stored.clientId], ['oidc', stack.issuer, stack.clientId], 'stored as an OIDC session of that issuer and client');

  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const served = await credentials(serve.exports);
  t.ok(stack.emulator.issued.has(served.AccessKeyId), 'the identity pool, trusting the provider under its issuer name, issued credentials');
  const sdk = await jsSdkClient({ region: stack.region, stsUrl: stack.stsUrl, env: clientEnv(be.env, serve.exports, [FULL_URI, TOKEN]) }, 'container-metadata');
  t.equal(sdk.accessKeyId, served.AccessKeyId, 'a real SDK gets them');
  // The profile token serve hands out opens credentials only; /token takes the master (or env --with-id-token's).
  const token = await fetch(serve.exports[FULL_URI]!.replace('/credentials', '/token'), { headers: { authorization: serve.master() } });
  const claims = JSON.parse(Buffer.from(((await token.json()) as { IdToken: string }).IdToken.split('.')[1] as string, 'base64url').toString()) as { iss: string };
  t.equal(claims.iss, stack.issuer, '/token serves the provider\'s ID token');

  const global = await runCli(['logout', '--global'], be.env);
  t.equal(global.code, 1, '--global is refused for an OIDC profile');
  t.match(global.stderr, /no global sign-out.*nothing was changed.*\[BRK_ERR_GLOBAL_SIGN_OUT_UNSUPPORTED\]/s);
});
