/**
 * Browser sessions against our user-pool emulator (testkit/emulators/user-pool-emulator.ts), which has
 * what cognito-local lacks: a client secret checked at /oauth2/token (HTTP Basic), refresh-
 * token rotation over /oauth2/token, /oauth2/revoke, GlobalSignOut and a correct OpenID
 * Connect discovery document. The compiled CLI, the real Secret Service, a form-filling
 * "browser".
 */
import t from 'tap';
import type { UserPoolClientSpec } from '../../testkit/emulators/user-pool-emulator.js';
import { freePort } from '../../testkit/ports.js';
import { browserLogin, writeProfiles } from '../support/browser-login.js';
import { type BrokerEnv, requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { startKeychainWorker } from '../support/secret-service.js';

const FULL_URI = 'AWS_CONTAINER_CREDENTIALS_FULL_URI';
const TOKEN = 'AWS_CONTAINER_AUTHORIZATION_TOKEN';
const LIFETIME_S = 20;

interface Stored {
  method: string;
  refreshToken: string;
  clientSecret?: string;
  userPoolId: string;
}

async function emulatorEnv(client: UserPoolClientSpec = {}, options: { lifetimeSeconds?: number } = {}) {
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  const be = await startBrokerEnv({
    ...(options.lifetimeSeconds ? { idTokenLifetimeSeconds: options.lifetimeSeconds, credentialLifetimeSeconds: options.lifetimeSeconds } : {}),
    userPoolEmulator: { client: { callbackUrls: [redirectUri], ...client } },
  });
  const pool = be.stack.userPoolEmulator;
  if (!pool) throw new Error('the stack started no user-pool emulator');
  return { be, pool, port, hostedUi: { domain: pool.emulator.url, redirectPort: port } };
}

async function stored(be: BrokerEnv): Promise<{ session: Stored | undefined; accounts: string[] }> {
  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  try {
    const text = await keychain.get('profile:default');
    return { session: text === undefined ? undefined : (JSON.parse(text) as Stored), accounts: await keychain.accounts() };
  } finally {
    await keychain.stop();
  }
}

/** The refresh_token grant straight at the emulator's /oauth2/token. */
async function tokenEndpointRefresh(url: string, clientId: string, refreshToken: string, secret?: string): Promise<{ status: number; error?: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (secret) headers.authorization = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
  const response = await fetch(`${url}/oauth2/token`, { method: 'POST', headers, body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken }) });
  const body = (await response.json()) as { error?: string };
  return { status: response.status, ...(body.error ? { error: body.error } : {}) };
}

t.test('managed login with refresh-token rotation: refreshes go through /oauth2/token and each new refresh token reaches the keychain', async (t) => {
  if (!requireSecretService(t)) return;
  const { be, pool, hostedUi } = await emulatorEnv({ rotation: true, gracePeriodSeconds: 0 }, { lifetimeSeconds: LIFETIME_S });
  t.teardown(() => be.stop());
  writeProfiles(be, { default: { ...pool.profile, hostedUi } });

  const login = await browserLogin(be, [], pool);
  t.equal(login.result.code, 0, login.result.stderr);
  const first = (await stored(be)).session as Stored;
  t.equal(first.method, 'browser');

  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const seen = new Set<string>();
  const until = Date.now() + 2.5 * LIFETIME_S * 1000;
  while (Date.now() < until) {
    const response = await fetch(serve.exports[FULL_URI] as string, { headers: { authorization: serve.exports[TOKEN] as string } });
    t.equal(response.status, 200);
    seen.add(((await response.json()) as { AccessKeyId: string }).AccessKeyId);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  t.ok(seen.size >= 3, `credentials kept changing (${seen.size} sets)`);
  const calls = pool.emulator.calls;
  t.ok(calls['oauth2/token'] >= 3, `refreshed through /oauth2/token (${calls['oauth2/token']} calls, the code exchange included)`);
  t.equal(calls.InitiateAuth + calls.GetTokensFromRefreshToken, 0, 'never through the user-pool API');
  const latest = (await stored(be)).session as Stored;
  t.not(latest.refreshToken, first.refreshToken, 'the rotated refresh token replaced the first one in the keychain');
  t.match(await tokenEndpointRefresh(pool.emulator.url, pool.clientId, first.refreshToken), { status: 400, error: 'invalid_grant' }, 'the first token is spent (grace period 0)');
  t.notMatch(serve.stderr(), /login-required/);
  await serve.stop();

  // Sign-out of a browser session: /oauth2/revoke with the newest token.
  const out = await runCli(['logout'], be.env);
  t.equal(out.code, 0, out.stderr);
  t.match(out.stderr, /the refresh token was revoked at the provider's revocation endpoint/);
  t.equal(pool.emulator.calls['oauth2/revoke'], 1);
  t.match(await tokenEndpointRefresh(pool.emulator.url, pool.clientId, latest.refreshToken), { status: 400, error: 'invalid_grant' }, 'a refresh afterwards fails at the server');
  t.same((await stored(be)).accounts, []);
});

t.test('an app client with a secret: asked once (here from the environment), kept in the keychain, sent as HTTP Basic', async (t) => {
  if (!requireSecretService(t)) return;
  const { be, pool, hostedUi } = await emulatorEnv({ secret: true });
  t.teardown(() => be.stop());
  writeProfiles(be, { default: { ...pool.profile, hostedUi } });
  const secret = pool.clientSecret as string;

  const without = await browserLogin(be, [], pool);
  t.equal(without.result.code, 1, 'without the secret the code exchange is refused');
  t.match(without.result.stderr, /has a client secret and none was given.*invalid_client.*--client-secret.*\[BRK_ERR_CLIENT_SECRET\]/s);
  t.match(without.visit?.body, /could not be completed/, 'and the browser page says so');

  const withSecret = await browserLogin({ ...be, env: { ...be.env, COGNITO_BROKER_CLIENT_SECRET: secret } }, [], pool);
  t.equal(withSecret.result.code, 0, withSecret.result.stderr);
  const kept = await stored(be);
  t.equal(kept.session?.clientSecret, secret, 'the session carries the secret for its refreshes');
  t.ok(kept.accounts.includes('client-secret:default'), 'and it is kept for the next login');
  t.notOk(withSecret.result.stderr.includes(secret), 'never printed');

  const again = await browserLogin(be, [], pool);
  t.equal(again.result.code, 0, `the next login finds the kept secret: ${again.result.stderr}`);

  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const response = await fetch(serve.exports[FULL_URI] as string, { headers: { authorization: serve.exports[TOKEN] as string } });
  t.equal(response.status, 200, 'serve refreshes with the secret');
  t.notOk(serve.stderr().includes(secret), 'no secret in the log');
  await serve.stop();

  const out = await runCli(['logout'], be.env);
  t.equal(out.code, 0, out.stderr);
  t.equal(pool.emulator.calls['oauth2/revoke'], 1, 'revoked, authenticated with the secret');
  t.same((await stored(be)).accounts, [], 'the session, and the kept client secret, are deleted');
});

t.test('logout --global signs the user out everywhere (GlobalSignOut with a fresh access token)', async (t) => {
  if (!requireSecretService(t)) return;
  const { be, pool, hostedUi } = await emulatorEnv();
  t.teardown(() => be.stop());
  writeProfiles(be, { default: { ...pool.profile, hostedUi: { ...hostedUi, scopes: ['openid', 'aws.cognito.signin.user.admin'] } } });
  // Two sessions of the same user: a browser one here, and one elsewhere.
  const login = await browserLogin(be, [], pool);
  t.equal(login.result.code, 0, login.result.stderr);
  const other = await browserLogin(be, [], pool);
  t.equal(other.result.code, 0, other.result.stderr);
  const otherToken = ((await stored(be)).session as Stored).refreshToken;
  const first = await browserLogin(be, [], pool);
  t.equal(first.result.code, 0);

  const out = await runCli(['logout', '--global'], be.env);
  t.equal(out.code, 0, out.stderr);
  t.match(out.stderr, /every session of the user was signed out \(GlobalSignOut\)/);
  t.equal(pool.emulator.calls.GlobalSignOut, 1);
  t.match(await tokenEndpointRefresh(pool.emulator.url, pool.clientId, otherToken), { status: 400, error: 'invalid_grant' }, 'another session of the user ends too');
  t.same((await stored(be)).accounts, []);
});

t.test('an OIDC provider found by discovery (the emulator as provider): sign-in, credentials, revocation at the discovered endpoint', async (t) => {
  if (!requireSecretService(t)) return;
  const { be, pool, port } = await emulatorEnv();
  t.teardown(() => be.stop());
  writeProfiles(be, {
    default: {
      region: pool.profile.region,
      identityPoolId: pool.profile.identityPoolId,
      endpoints: { cognitoIdentity: pool.profile.endpoints.cognitoIdentity },
      oidc: { issuer: pool.issuer, clientId: pool.clientId, redirectPort: port, scopes: ['openid', 'email'] },
    },
  });
  const login = await browserLogin(be, [], pool);
  t.equal(login.result.code, 0, login.result.stderr);
  t.equal(new URL(login.url).origin + new URL(login.url).pathname, `${pool.emulator.url}/oauth2/authorize`, 'the authorization endpoint came from discovery');
  t.equal(((await stored(be)).session as Stored).method, 'oidc');

  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const response = await fetch(serve.exports[FULL_URI] as string, { headers: { authorization: serve.exports[TOKEN] as string } });
  t.equal(response.status, 200, `the identity pool took the provider's ID token under ${pool.loginsKey}: ${response.status === 200 ? '' : await response.clone().text()}`);
  t.ok(be.stack.emulator.issued.has(((await response.json()) as { AccessKeyId: string }).AccessKeyId));
  await serve.stop();

  const out = await runCli(['logout'], be.env);
  t.equal(out.code, 0, out.stderr);
  t.equal(pool.emulator.calls['oauth2/revoke'], 1, 'revoked at the revocation_endpoint of the discovery document');
});
