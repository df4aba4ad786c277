/**
 * `cognito-broker logout` with the compiled CLI and the real Secret Service: RevokeToken
 * against cognito-local (a refresh afterwards fails at the server), offline (entries gone,
 * the token still valid, and logout says so), and --global where the pool cannot do it.
 * The managed-login and OIDC sign-outs are in managed-login.test.ts (our user-pool emulator
 * has /oauth2/revoke and GlobalSignOut; cognito-local has neither). --global on a client
 * that rotates refresh tokens runs against the emulator, behind the fault proxy.
 */
import { readFileSync } from 'node:fs';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import t, { type Test } from 'tap';
import type { LocalStack } from '../../testkit/local-stack.js';
import { freePort } from '../../testkit/ports.js';
import { writeProfiles } from '../support/browser-login.js';
import { type BrokerEnv, requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { startEmulatorEnv } from '../support/emulator-env.js';
import { startFaultProxy } from '../../testkit/fault-proxy.js';
import { startKeychainWorker } from '../support/secret-service.js';

/** Short enough that the daemon's next refresh comes within the test. */
const LIFETIME_S = 20;

async function storedRefreshToken(be: BrokerEnv): Promise<string> {
  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  try {
    return (JSON.parse((await keychain.get('profile:default')) as string) as { refreshToken: string }).refreshToken;
  } finally {
    await keychain.stop();
  }
}

async function keychainAccounts(be: BrokerEnv): Promise<string[]> {
  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  try {
    return await keychain.accounts();
  } finally {
    await keychain.stop();
  }
}

/** REFRESH_TOKEN_AUTH straight at cognito-local: does the server still take this token? */
async function refreshWorks(stack: LocalStack, refreshToken: string): Promise<string> {
  const sdk = new CognitoIdentityProviderClient({ region: stack.region, endpoint: stack.cognitoIdpUrl, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  try {
    await sdk.send(new InitiateAuthCommand({ AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: stack.clientId, AuthParameters: { REFRESH_TOKEN: refreshToken } }));
    return 'accepted';
  } catch (error) {
    return (error as Error).name;
  } finally {
    sdk.destroy();
  }
}

async function login(t: Test, be: BrokerEnv): Promise<string> {
  const result = await runCli(['login', '--auth-flow', 'user-password', '--password-stdin'], be.env, `${be.stack.password}\n`);
  t.equal(result.code, 0, `login: ${result.stderr}`);
  return storedRefreshToken(be);
}

t.test('logout revokes the refresh token (a refresh afterwards fails at the server) and deletes the keychain entries', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv({ idTokenLifetimeSeconds: LIFETIME_S, credentialLifetimeSeconds: LIFETIME_S });
  t.teardown(() => be.stop());
  const token = await login(t, be);
  t.equal(await refreshWorks(be.stack, token), 'accepted', 'the token works before');
  t.ok((await keychainAccounts(be)).includes('profile:default'));
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const phase = () => serve.phase();
  const served = await fetch(serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string, { headers: { authorization: serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string } });
  t.equal(served.status, 200, 'the daemon serves the session');
  t.equal(await phase(), 'ready');

  const out = await runCli(['logout'], be.env);
  t.equal(out.code, 0, out.stderr);
  t.match(out.stderr, /Signed out of profile "default": the refresh token was revoked \(RevokeToken\); its keychain entries are deleted/);
  t.match(out.stderr, new RegExp(`running cognito-broker serve \\(pid ${serve.child.pid}\\) stops serving this profile within 5 seconds`), 'and it names the running daemon');
  t.equal(await refreshWorks(be.stack, token), 'NotAuthorizedException', 'the user pool refuses it now');
  // The daemon watches the keychain: the deleted session is dropped within 5 s.
  const until = Date.now() + 7_000;
  while ((await phase()) !== 'signed-out' && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 250));
  t.equal(await phase(), 'signed-out', 'the running daemon dropped the session');
  const after = await fetch(serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string, { headers: { authorization: serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string } });
  t.match(await after.json(), { Code: 'BRK_ERR_NOT_SIGNED_IN' }, 'and serves nothing from it');
  await serve.stop();
  t.same(await keychainAccounts(be), [], 'nothing of the profile is left in the keychain');
  t.notOk(out.stderr.includes(token), 'the token is not printed');

  const again = await runCli(['logout'], be.env);
  t.equal(again.code, 0, 'logging out twice is fine');
  t.match(again.stderr, /was not signed in.*Nothing to revoke/);
});

t.test('offline, logout still deletes the entries, says the revocation did not happen, and exits 1', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const token = await login(t, be);
  // The user pool unreachable: a port nothing listens on.
  const closed = await freePort();
  writeProfiles(be, { default: { ...be.stack.profile, endpoints: { ...be.stack.profile.endpoints, cognitoIdp: `http://127.0.0.1:${closed}` } } });

  const out = await runCli(['logout'], be.env);
  t.equal(out.code, 1);
  t.match(out.stderr, /Signed out locally \(profile "default" has nothing left in the keychain\), but the refresh token was NOT revoked: /, 'says the local part happened and the revocation did not');
  t.match(out.stderr, /NOT revoked: The Cognito user pool did not answer RevokeToken \([^)]*ECONNREFUSED[^)]*\)[^\n]*\[BRK_ERR_UPSTREAM_UNAVAILABLE\]/, 'and why: the pool could not be reached');
  t.match(out.stderr, /To end it anyway, sign in again when the user pool can be reached and run: cognito-broker logout --global \(ends every session of the user\)\. \[BRK_ERR_REVOCATION_FAILED\]\n$/, 'what to do, and the code last');
  t.notMatch(out.stderr, /Signed out of profile/, 'no claim that the session ended');
  t.notOk(out.stderr.includes(token), 'the token is not printed');
  t.same(await keychainAccounts(be), [], 'the entries are gone all the same');
  t.equal(await refreshWorks(be.stack, token), 'accepted', 'and, as logout said, the token still works at the server');
});

t.test('--global against a pool without GlobalSignOut (cognito-local): this session is still revoked, and logout says the rest did not happen', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const token = await login(t, be);
  const out = await runCli(['logout', '--global'], be.env);
  t.equal(out.code, 1);
  t.match(out.stderr, /the global sign-out did not happen \(.*\); only this session ended: the refresh token was revoked \(RevokeToken\).*\[BRK_ERR_REVOCATION_FAILED\]/s);
  t.equal(await refreshWorks(be.stack, token), 'NotAuthorizedException');
  t.same(await keychainAccounts(be), []);
  t.match((await runCli(['logout', '--help'], be.env)).stdout, /Usage: cognito-broker logout \[--profile P\] \[--global\]/);
});

t.test('--global on a client that rotates refresh tokens, GlobalSignOut failing: the rotated token is the one revoked, and it is never printed', async (t) => {
  if (!requireSecretService(t)) return;
  const env = await startEmulatorEnv({ rotating: { rotation: true, gracePeriodSeconds: 60 } });
  t.teardown(() => env.stop());
  const proxy = await startFaultProxy({ userPoolUrl: env.emu.url, identityPoolUrl: env.be.stack.cognitoIdentityUrl });
  t.teardown(() => proxy.close());
  const password = 'Rotat1ng-passw0rd!';
  env.emu.createUser({ username: 'gina', password });
  const config = JSON.parse(readFileSync(env.be.configFile, 'utf8')) as { profiles: Record<string, { clientId: string }> };
  env.addProfiles({ rotating: { clientId: config.profiles.rotating?.clientId, endpoints: { cognitoIdp: proxy.url, cognitoIdentity: proxy.url } } });
  const signedIn = await runCli(['login', '--profile', 'rotating', '--username', 'gina', '--password-stdin'], env.be.env, password);
  t.equal(signedIn.code, 0, signedIn.stderr);

  let sentToRefresh: unknown;
  let rotated: string | undefined;
  proxy.inject('GetTokensFromRefreshToken', {
    kind: 'rewrite',
    rewrite: (body, request) => {
      sentToRefresh = request.RefreshToken;
      rotated = (body.AuthenticationResult as { RefreshToken?: string } | undefined)?.RefreshToken;
      return body;
    },
  });
  proxy.inject('GlobalSignOut', { kind: 'aws-error', type: 'ForbiddenException', message: 'Request blocked by the web application firewall.' });
  const revoked: unknown[] = [];
  proxy.inject('RevokeToken', { kind: 'rewrite', rewrite: (body, request) => (revoked.push(request.Token), body) });

  const out = await runCli(['logout', '--profile', 'rotating', '--global'], env.be.env);
  t.equal(out.code, 1, out.stderr);
  t.ok(typeof sentToRefresh === 'string' && rotated !== undefined && rotated !== sentToRefresh, 'the refresh for an access token rotated the refresh token');
  t.same(revoked, [rotated], 'RevokeToken got the rotated token: the one that stays valid');
  t.match(out.stderr, /the global sign-out did not happen \(.*ForbiddenException.*\); only this session ended: the refresh token was revoked \(RevokeToken\)/);
  for (const token of [rotated as string, sentToRefresh as string]) t.notOk(out.stderr.includes(token) || out.stdout.includes(token), 'no refresh token in the output');
  const keychain = await startKeychainWorker(env.be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  t.teardown(() => keychain.stop());
  t.same((await keychain.accounts()).filter((a) => a.endsWith(':rotating')), [], 'and nothing of the profile is left in the keychain');
});
