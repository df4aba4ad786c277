/**
 * Refresh after an SRP login, through the compiled CLI and a real gnome-keyring: refresh-
 * token rotation over several rotations, a daemon killed between receiving a rotated token
 * and storing it (with its write hung, and with the write made impossible, so that the
 * restart must use the old token inside its grace period), a reused token, and cognito-local
 * (no GetTokensFromRefreshToken) as it really answers.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CognitoIdentityProviderClient, GetTokensFromRefreshTokenCommand, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import t, { type Test } from 'tap';
import { startLocalStack } from '../../testkit/local-stack.js';
import { waitFor } from '../../testkit/wait.js';
import { isAlive } from '../../src/cli/announced-daemon.js';
import { createCognitoClients } from '../../src/cognito/create-cognito-clients.js';
import { signIn } from '../../src/cognito/sign-in.js';
import type { ProfileConfig } from '../../src/config/config.js';
import { requireSecretService, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, spawnCli, startServe } from '../support/cli.js';
import { waitForStatus } from '../support/wait-for-status.js';
import { type EmulatorEnv, startEmulatorEnv } from '../support/emulator-env.js';
import { startFaultProxy } from '../../testkit/fault-proxy.js';
import { keychainControl, type KeychainControl } from '../support/fault-keychain.js';
import { type KeychainWorker, startKeychainWorker } from '../support/secret-service.js';

const run = promisify(execFile);
/** Short ID/access tokens: the broker renews at half the lifetime, so a rotation every ~6 s. */
const LIFETIME_S = 12;

let env: EmulatorEnv;
let keychain: KeychainWorker;
let control: KeychainControl;
const secretServiceReady = requireSecretService(t);

t.before(async () => {
  if (!secretServiceReady) return;
  env = await startEmulatorEnv({
    rotating: { rotation: true, gracePeriodSeconds: 60, lifetimes: { idTokenSeconds: LIFETIME_S, accessTokenSeconds: LIFETIME_S } },
    crashy: { rotation: true, gracePeriodSeconds: 60 },
    unstorable: { rotation: true, gracePeriodSeconds: 60 },
    strict: { rotation: true, gracePeriodSeconds: 0 },
    parallel: { rotation: true, gracePeriodSeconds: 0 },
  });
  keychain = await startKeychainWorker(env.be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  control = keychainControl(env.be.secretService);
  env.emu.createUser({ username: 'rita', password: PASSWORD });
});
t.teardown(async () => {
  await keychain?.stop();
  // The keyring daemons an unlock started, before the Secret Service itself.
  await control?.stop();
  await env?.stop();
});

const PASSWORD = 'Rotat1ng-passw0rd!';
const refreshTokenOf = async (profile: string) => (JSON.parse((await keychain.get(`profile:${profile}`)) ?? '{}') as { refreshToken?: string }).refreshToken;
const login = (profile: string) => runCli(['login', '--profile', profile, '--username', 'rita', '--password-stdin'], env.be.env, PASSWORD);

t.test('after an SRP login, serve keeps refreshing through several rotations, each new token in the keychain', { skip: !secretServiceReady }, async (t) => {
  const signedIn = await login('rotating');
  t.equal(signedIn.code, 0, signedIn.stderr);
  const first = await refreshTokenOf('rotating');
  const calls = env.emu.calls.GetTokensFromRefreshToken;

  const serve = await startServe([], env.be.env);
  t.teardown(() => serve.stop());
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const headers = { authorization: serve.master() };
  const idTokens = new Set<string>();
  const stored = new Set<string>();
  const refused: number[] = [];
  const until = Date.now() + 4 * LIFETIME_S * 1000;
  while (Date.now() < until) {
    const response = await fetch(`${base}/profiles/rotating/token`, { headers });
    if (response.status === 200) {
      const body = (await response.json()) as { IdToken: string; Expiration: string };
      idTokens.add(body.IdToken);
      if (Date.parse(body.Expiration) <= Date.now()) refused.push(-1);
    } else if (idTokens.size > 0) {
      refused.push(response.status);
    }
    const token = await refreshTokenOf('rotating');
    if (token) stored.add(token);
    await sleep(1000);
  }
  const rotations = env.emu.calls.GetTokensFromRefreshToken - calls;
  t.ok(rotations >= 5, `${rotations} refreshes, each a rotation`);
  t.ok(idTokens.size >= 5, `${idTokens.size} ID tokens served`);
  t.same(refused, [], 'every request after the first answer was served, never an expired token');
  t.ok(stored.size >= 5, `${stored.size} refresh tokens seen in the keychain`);
  t.not(await refreshTokenOf('rotating'), first, 'the keychain holds a rotated token');
  t.match(serve.stderr(), /session refreshed/);
  t.notMatch(serve.stderr(), /could not be written to the keychain/);
  await serve.stop();
  await keychain.delete('profile:rotating');
});

/** The gnome-keyring daemon of this test's Secret Service (the owner of org.freedesktop.secrets on its bus). */
async function keyringPid(): Promise<number> {
  const { stdout } = await run('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.GetConnectionUnixProcessID', 'string:org.freedesktop.secrets'], {
    env: { PATH: process.env.PATH ?? '', ...env.be.secretService.env },
  });
  const pid = Number(/uint32 (\d+)/.exec(stdout)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no keyring pid in: ${stdout}`);
  return pid;
}

t.test('killed (kill -9) after receiving a rotated token and before storing it, the next start still refreshes', { skip: !secretServiceReady }, async (t) => {
  const { proxy, original } = await loginThroughProxy(t, 'crashy');

  // The moment the rotated token is on its way to the daemon, the keychain stops answering:
  // the daemon holds the new token in memory, its keychain write hangs.
  const pid = await keyringPid();
  let rotated: string | undefined;
  t.teardown(() => {
    // Gone already if the keyring died while stopped: the failure above says so, not ESRCH here.
    if (isAlive(pid)) process.kill(pid, 'SIGCONT');
  });
  proxy.inject('GetTokensFromRefreshToken', {
    kind: 'rewrite',
    rewrite: (body) => {
      rotated = (body.AuthenticationResult as { RefreshToken?: string } | undefined)?.RefreshToken;
      process.kill(pid, 'SIGSTOP');
      return body;
    },
  }, { times: 1 });

  const daemon = spawnCli(['serve'], env.be.env);
  t.teardown(() => void daemon.kill('SIGKILL'));
  await waitFor('the daemon to receive a rotated token', () => rotated !== undefined, Boolean, { timeoutMs: 20_000, intervalMs: 20 });
  t.not(rotated, original, 'the pool rotated the token');
  await sleep(1000);
  t.equal(daemon.exitCode, null, 'the daemon is still waiting on its keychain write');
  await kill9(daemon);
  process.kill(pid, 'SIGCONT');

  const after = await refreshTokenOf('crashy');
  t.ok(after === original || after === rotated, `the keychain holds the old or the new token, whole (${after === original ? 'the old one' : 'the new one'})`);
  t.comment(`after the crash the keychain held ${after === original ? 'the old token (inside its grace period)' : 'the rotated token (the queued write landed)'}`);

  const calls = proxy.count('GetTokensFromRefreshToken');
  const serve = await startServe([], env.be.env);
  t.teardown(() => serve.stop());
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const status = await waitForStatus(`${base}/profiles/crashy/credentials`, serve.master(), 200);
  t.equal(status, 200, 'credentials served after the restart');
  t.ok(proxy.count('GetTokensFromRefreshToken') > calls, 'the restarted daemon refreshed with what the keychain held');
  t.notMatch(serve.stderr(), /BRK_ERR_LOGIN_REQUIRED/);
  await serve.stop();
  await keychain.delete('profile:crashy');
});

t.test('killed (kill -9) after the pool rotated, the new token unstorable: the keychain holds exactly the original, and the restart refreshes with it inside the grace period', { skip: !secretServiceReady }, async (t) => {
  const { proxy, original } = await loginThroughProxy(t, 'unstorable');
  if (!original) throw new Error('no session stored');
  t.teardown(async () => {
    if (await control.isLocked().catch(() => false)) await control.unlock();
  });

  // The rotated token is on its way to the daemon: the keychain is locked before it
  // arrives, so no write of it can succeed (a hung write could still land after a kill).
  let sentBefore: unknown;
  let rotated: string | undefined;
  proxy.inject('GetTokensFromRefreshToken', {
    kind: 'rewrite',
    rewrite: async (body, request) => {
      sentBefore = request.RefreshToken;
      await control.lock();
      rotated = (body.AuthenticationResult as { RefreshToken?: string } | undefined)?.RefreshToken;
      return body;
    },
  }, { times: 1 });
  const daemon = spawnCli(['serve'], env.be.env);
  let log = '';
  daemon.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  t.teardown(() => void daemon.kill('SIGKILL'));
  await waitFor('the daemon to fail to store the rotated token', () => /could not be written to the keychain|did not answer the write of the rotated refresh token/.test(log), Boolean, { timeoutMs: 20_000, intervalMs: 20 });
  t.equal(sentBefore, original, 'the daemon refreshed with the token from the login');
  t.ok(rotated !== undefined && rotated !== original, 'the pool rotated it');
  await kill9(daemon);
  await control.unlock();
  t.equal(await refreshTokenOf('unstorable'), original, 'after the crash the keychain holds exactly the original token');

  let sentAfter: unknown;
  let answered: string | undefined;
  proxy.inject('GetTokensFromRefreshToken', {
    kind: 'rewrite',
    rewrite: (body, request) => {
      sentAfter = request.RefreshToken;
      answered = (body.AuthenticationResult as { RefreshToken?: string } | undefined)?.RefreshToken;
      return body;
    },
  }, { times: 1 });
  const serve = await startServe([], env.be.env);
  t.teardown(() => serve.stop());
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const status = await waitForStatus(`${base}/profiles/unstorable/credentials`, serve.master(), 200);
  t.equal(status, 200, 'credentials served after the restart');
  t.equal(sentAfter, original, 'the restarted daemon refreshed with the original token');
  t.equal(answered, rotated, 'which the pool accepted inside its grace period, answering with the successor it had issued');
  const stored = async () => (await refreshTokenOf('unstorable')) === rotated;
  const deadline = Date.now() + 10_000;
  while (!(await stored()) && Date.now() < deadline) await sleep(200);
  t.ok(await stored(), 'and the successor is now in the keychain');
  t.notMatch(serve.stderr(), /BRK_ERR_LOGIN_REQUIRED/);
  await serve.stop();
  await keychain.delete('profile:unstorable');
});

t.test('a rotated-out token used after the grace period: RefreshTokenReuseException, login required after one call', { skip: !secretServiceReady }, async (t) => {
  const signedIn = await login('strict');
  t.equal(signedIn.code, 0, signedIn.stderr);
  const stale = await refreshTokenOf('strict');
  if (!stale) throw new Error('no session stored');
  // Another copy of the session (another machine, a restored backup) rotates it first.
  const profile = { ...(await readProfile('strict')), name: 'strict' } as unknown as ProfileConfig;
  const other = createCognitoClients(profile);
  const newer = await other.userPool.refresh({ refreshToken: stale });
  other.destroy();
  t.ok(newer.refreshToken && newer.refreshToken !== stale, 'rotated elsewhere; grace period 0');

  const calls = env.emu.calls.GetTokensFromRefreshToken;
  const serve = await startServe([], env.be.env);
  t.teardown(() => serve.stop());
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const headers = { authorization: serve.master() };
  const status = await waitForStatus(`${base}/profiles/strict/token`, headers.authorization, 503, (body) => body.includes('BRK_ERR_LOGIN_REQUIRED'));
  t.equal(status, 503);
  const response = await fetch(`${base}/profiles/strict/token`, { headers });
  t.match(await response.json(), { Code: 'BRK_ERR_LOGIN_REQUIRED', Message: /RefreshTokenReuseException.*cognito-broker login --profile strict/ });
  await sleep(8000);
  t.equal(env.emu.calls.GetTokensFromRefreshToken - calls, 1, 'one refresh call, no retry loop');
  t.equal(await serve.phase('strict'), 'login-required');
  await serve.stop();
});

t.test('six commands without a daemon started together on a rotating client (no grace period): one refresh between them, every one served', { skip: !secretServiceReady }, async (t) => {
  const signedIn = await login('parallel');
  t.equal(signedIn.code, 0, signedIn.stderr);
  const original = await refreshTokenOf('parallel');
  const refreshes = env.emu.calls.GetTokensFromRefreshToken;
  const commands = [
    ...Array.from({ length: 3 }, () => ['credential-process', '--profile', 'parallel']),
    ...Array.from({ length: 3 }, () => ['token', '--profile', 'parallel']),
  ];
  const runs = await Promise.all(commands.map((args) => runCli(args, env.be.env)));
  for (const [i, run] of runs.entries()) {
    t.equal(run.code, 0, `${commands[i]?.[0]} #${i + 1} exits 0: ${run.stderr}`);
    t.notMatch(run.stderr, /RefreshTokenReuseException|BRK_ERR_LOGIN_REQUIRED/);
  }
  // With a grace period of 0, a second use of the same token would have been refused.
  t.equal(env.emu.calls.GetTokensFromRefreshToken - refreshes, 1, 'the user pool saw one refresh');
  const idTokens = new Set(runs.slice(3).map((r) => r.stdout));
  t.equal(idTokens.size, 1, 'every token command printed the ID token of that one refresh');
  for (const run of runs.slice(0, 3)) {
    const printed = JSON.parse(run.stdout) as { AccessKeyId: string; SecretAccessKey: string };
    t.equal(env.be.stack.emulator.issued.get(printed.AccessKeyId)?.secretKey, printed.SecretAccessKey, 'credentials the identity pool issued');
  }
  const rotated = await refreshTokenOf('parallel');
  t.ok(rotated && rotated !== original, 'the keychain holds the rotated token');

  const later = await runCli(['token', '--profile', 'parallel'], env.be.env);
  t.equal(later.code, 0, later.stderr);
  t.equal(later.stdout, [...idTokens][0], 'a later command takes up the same ID token while it is fresh');
  t.equal(env.emu.calls.GetTokensFromRefreshToken - refreshes, 1, 'still one refresh');
  t.notOk(existsSync(join(env.be.env.XDG_STATE_HOME as string, 'cognito-broker', 'locks', 'parallel.lock')), 'no refresh lock left behind');
  await keychain.delete('profile:parallel');
});

t.test('cognito-local: GetTokensFromRefreshToken is a 500 "CognitoLocal#Unsupported", and refresh falls back to REFRESH_TOKEN_AUTH', async (t) => {
  const stack = await startLocalStack();
  t.teardown(() => stack.stop());
  const sdk = new CognitoIdentityProviderClient({ region: stack.region, endpoint: stack.cognitoIdpUrl, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  t.teardown(() => sdk.destroy());
  const auth = await sdk.send(new InitiateAuthCommand({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: stack.clientId, AuthParameters: { USERNAME: stack.username, PASSWORD: stack.password } }));
  const refreshToken = auth.AuthenticationResult?.RefreshToken as string;
  const error = await sdk.send(new GetTokensFromRefreshTokenCommand({ ClientId: stack.clientId, RefreshToken: refreshToken })).then(() => undefined, (e: unknown) => e);
  t.match(error, { name: 'Unsupported', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: /Cognito Local unsupported feature: Unsupported x-amz-target header "GetTokensFromRefreshToken"/ }, 'exactly what cognito-local 5.3 answers');

  const clients = createCognitoClients({ name: 'default', ...stack.profile });
  t.teardown(() => clients.destroy());
  const refreshed = await clients.userPool.refresh({ refreshToken });
  t.ok(refreshed.idToken, 'refreshed through REFRESH_TOKEN_AUTH');
  t.equal(refreshed.refreshToken, undefined, 'no rotation there');
  const srp = await signIn(clients.userPool, {
    flow: 'srp',
    userPoolId: stack.userPoolId,
    username: stack.username,
    password: stack.password,
    ask: async () => 'x',
    userPoolEndpoint: stack.cognitoIdpUrl,
    onSrpUnsupported: () => t.pass('told that SRP is not implemented there'),
  });
  t.ok(srp.tokens.refreshToken, 'SRP not implemented by cognito-local: USER_PASSWORD_AUTH when allowed');
  await t.rejects(clients.userPool.globalSignOut(srp.tokens.accessToken), { code: 'BRK_ERR_UPSTREAM_REJECTED', message: /does not support GlobalSignOut/ });
  await clients.userPool.revokeToken(srp.tokens.refreshToken);
  await t.rejects(clients.userPool.refresh({ refreshToken: srp.tokens.refreshToken }), { code: 'BRK_ERR_LOGIN_REQUIRED' }, 'RevokeToken works there');
});

/** Points the profile's Cognito calls at a fault proxy of its own and signs in; resolves with the proxy and the refresh token stored. */
async function loginThroughProxy(t: Test, profile: string) {
  const proxy = await startFaultProxy({ userPoolUrl: env.emu.url, identityPoolUrl: env.be.stack.cognitoIdentityUrl });
  t.teardown(() => proxy.close());
  const clientId = (await readProfile(profile)).clientId as string;
  env.addProfiles({ [profile]: { clientId, endpoints: { cognitoIdp: proxy.url, cognitoIdentity: proxy.url } } });
  const signedIn = await login(profile);
  t.equal(signedIn.code, 0, signedIn.stderr);
  return { proxy, original: await refreshTokenOf(profile) };
}

async function readProfile(name: string): Promise<Record<string, unknown>> {
  const { readFile } = await import('node:fs/promises');
  const config = JSON.parse(await readFile(env.be.configFile, 'utf8')) as { profiles: Record<string, Record<string, unknown>> };
  return config.profiles[name] as Record<string, unknown>;
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
