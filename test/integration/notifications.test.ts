/**
 * Knowing before it hurts, with the compiled CLI, the real Secret Service and cognito-local:
 * a daemon whose refresh token is revoked goes login-required and, once, runs notify.command
 * (a recording script) with the notice in its environment and shows a desktop notification
 * (a recording org.freedesktop.Notifications service on the private session bus); a sign-in
 * with a short refreshTokenLifetime ends soon, told once; `status --prompt` says each state
 * from the daemon's prompt.json, and that no daemon runs once it stopped.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CognitoIdentityProviderClient, RevokeTokenCommand } from '@aws-sdk/client-cognito-identity-provider';
import t, { type Test } from 'tap';
import { type BrokerEnv, requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { requireNotificationReceiver, startNotificationReceiver } from '../support/notification-receiver.js';
import { startKeychainWorker } from '../support/secret-service.js';

const LIFETIME_S = 20;

/** notify.command for the tests: appends its argv and the environment it got to a file. */
const RECORDER = `
import { appendFileSync } from 'node:fs';
const [file, ...rest] = process.argv.slice(2);
appendFileSync(file, JSON.stringify({ args: rest, env: process.env }) + '\\n');
`;

interface Recorded {
  args: string[];
  env: Record<string, string>;
}

function recorded(file: string): Recorded[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Recorded) : [];
}

async function until(what: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await what()) return true;
    await sleep(200);
  }
  return what();
}

/** The local stack with notify.command set to the recorder, and the profile with `extra` keys. */
async function notifyEnv(t: Test, extra: Record<string, unknown> = {}) {
  const be = await startBrokerEnv({ idTokenLifetimeSeconds: LIFETIME_S, credentialLifetimeSeconds: LIFETIME_S });
  t.teardown(() => be.stop());
  const script = join(be.dir, 'recorder.mjs');
  writeFileSync(script, RECORDER);
  const record = join(be.dir, 'notify-command.jsonl');
  writeFileSync(be.configFile, JSON.stringify({
    server: { host: '127.0.0.1', port: 0 },
    notify: { command: [process.execPath, script, record, 'an argument with spaces'] },
    profiles: { default: { ...be.stack.profile, ...extra } },
  }, null, 2));
  const receiver = await startNotificationReceiver(be.secretService.env, be.dir);
  t.teardown(() => receiver.stop());
  return { be, record, receiver };
}

async function login(t: Test, be: BrokerEnv): Promise<void> {
  const result = await runCli(['login', '--auth-flow', 'user-password', '--password-stdin'], be.env, `${be.stack.password}\n`);
  t.equal(result.code, 0, `login: ${result.stderr}`);
}

async function prompt(be: BrokerEnv, ...args: string[]): Promise<{ line: string; code: number | null }> {
  const result = await runCli(['status', '--prompt', ...args], be.env);
  return { line: result.stdout, code: result.code };
}

async function revokeStoredRefreshToken(be: BrokerEnv): Promise<string> {
  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  let refreshToken: string;
  try {
    refreshToken = (JSON.parse((await keychain.get('profile:default')) as string) as { refreshToken: string }).refreshToken;
  } finally {
    await keychain.stop();
  }
  const sdk = new CognitoIdentityProviderClient({ region: be.stack.region, endpoint: be.stack.cognitoIdpUrl, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  try {
    await sdk.send(new RevokeTokenCommand({ ClientId: be.stack.clientId, Token: refreshToken }));
  } finally {
    sdk.destroy();
  }
  return refreshToken;
}

t.test('a revoked refresh token: login-required, notify.command run once with the notice in its environment, one desktop notification, and status --prompt says so', async (t) => {
  if (!requireSecretService(t) || !requireNotificationReceiver(t)) return;
  const { be, record, receiver } = await notifyEnv(t);
  t.match(await prompt(be), { line: 'no daemon\n', code: 4 }, 'no daemon yet');
  await login(t, be);
  // A secret in the daemon's own environment (a shell that had run `env`) is not handed on.
  const serve = await startServe([], { ...be.env, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'daemon-env-secret' });
  t.teardown(() => serve.stop());
  t.ok(await until(async () => (await serve.phase()) === 'ready', 15_000), 'the daemon is ready');
  t.ok(await until(async () => /^default \d+s\n$/.test((await prompt(be)).line), 5_000), 'status --prompt: the profile and the time its credentials have left (no lifetime configured)');
  t.match(await prompt(be), { code: 0 });
  t.match(await prompt(be, '--profile', 'nope'), { line: 'nope not served\n', code: 4 });

  const promptFile = join(be.dir, 'state', 'cognito-broker', 'prompt.json');
  t.equal(statSync(promptFile).mode & 0o777, 0o600, 'prompt.json is 0600');
  const refreshToken = await revokeStoredRefreshToken(be);

  t.ok(await until(async () => (await serve.phase()) === 'login-required', 30_000), 'the next refresh is refused: login required');
  t.ok(await until(() => recorded(record).length > 0 && receiver.received().length > 0, 10_000), 'the notifiers ran');
  // Ticks and refresh attempts go on; nobody is told twice.
  await sleep(12_000);
  const runs = recorded(record);
  t.equal(runs.length, 1, 'notify.command ran exactly once');
  const run = runs[0] as Recorded;
  t.same(run.args, ['an argument with spaces'], 'with its arguments as configured (an argv array, no shell)');
  t.equal(run.env.COGNITO_BROKER_PROFILE, 'default');
  t.equal(run.env.COGNITO_BROKER_STATE, 'login-required');
  t.match(run.env.COGNITO_BROKER_MESSAGE, /^Profile "default" must sign in again \(.*\)\. Run: cognito-broker login$/);
  t.notOk('AWS_CONTAINER_AUTHORIZATION_TOKEN' in run.env, 'the daemon\'s secret variables are withheld');
  const everything = JSON.stringify(run) + readFileSync(promptFile, 'utf8');
  t.notOk(everything.includes(refreshToken), 'no refresh token in the command\'s environment or the prompt file');
  t.notOk(/eyJ[\w-]+\.eyJ/.test(everything), 'no JWT either');

  const shown = receiver.received();
  t.equal(shown.length, 1, 'one desktop notification');
  t.match(shown[0], { appName: 'cognito-broker', summary: 'cognito-broker: "default" needs a login', body: run.env.COGNITO_BROKER_MESSAGE, hints: { urgency: 2 } });

  t.match(await prompt(be), { line: 'default login needed\n', code: 3 }, 'status --prompt: login needed');
  t.match(serve.stderr(), /notice: Profile \\"default\\" must sign in again/, 'and the log says it too');

  await serve.stop();
  t.notOk(existsSync(promptFile), 'the daemon removes its prompt file when it stops');
  t.match(await prompt(be), { line: 'no daemon\n', code: 4 });
  t.match(await prompt(be, '--profile', 'default'), { line: 'default no daemon\n', code: 4 });
});

t.test('a short refreshTokenLifetime: the sign-in ends soon, told once, and status --prompt shows the time left', async (t) => {
  if (!requireSecretService(t) || !requireNotificationReceiver(t)) return;
  // 20 s: "ends soon" is its last quarter, from 15 s after login.
  const { be, record, receiver } = await notifyEnv(t, { refreshTokenLifetime: '20s' });
  await login(t, be);
  const loggedInAt = Date.now();
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  t.ok(await until(async () => (await serve.phase()) === 'ready', 15_000), 'the daemon is ready');
  // The daemon writes prompt.json as each change happens, without waiting for the write: it
  // may trail /status by a moment.
  let early = await prompt(be);
  await until(async () => (early = await prompt(be)).line !== 'default starting\n', 2_000);
  if (Date.now() - loggedInAt < 13_000) t.match(early, { line: /^default 1?\ds\n$/, code: 0 }, 'the sign-in\'s time left, not yet ending');

  t.ok(await until(() => recorded(record).length > 0, 25_000), 'notify.command ran');
  t.ok(Date.now() - loggedInAt >= 14_000, 'not before the last quarter');
  t.match(await prompt(be), { line: /^default \ds login soon\n$/, code: 0 }, 'status --prompt: time left, and login soon');
  await until(() => receiver.received().length > 0, 5_000);
  // Past the end as configured (cognito-local does not end it): still told only once.
  await sleep(10_000);
  t.match(await prompt(be), { line: 'default 0s login soon\n' });
  const runs = recorded(record);
  t.equal(runs.length, 1, 'notify.command ran once');
  t.equal(runs[0]?.env.COGNITO_BROKER_STATE, 'ends-soon');
  t.match(runs[0]?.env.COGNITO_BROKER_MESSAGE, /^The sign-in of profile "default" ends in \d+s \(at .*Z\): refreshTokenLifetime counted from the login at .*Z\. Run: cognito-broker login$/);
  const shown = receiver.received();
  t.equal(shown.length, 1, 'one desktop notification');
  t.match(shown[0], { summary: 'cognito-broker: the sign-in of "default" ends soon', hints: { urgency: 1 } });
  t.match(await serve.phase(), /^(ready|refreshing-ahead)$/, 'the session itself goes on');
});
