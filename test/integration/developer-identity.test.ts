import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { clientEnv, jsSdkClient } from '../support/aws-clients.js';
import { requireSecretService } from '../support/broker-env.js';
import { runCli, type ServeProcess, startServe } from '../support/cli.js';
import { DEVELOPER_ROLE_ARN, type DeveloperEnv, startDeveloperEnv } from '../support/developer-env.js';
import { secretsIn } from '../support/emulator-env.js';

const FULL_URI = 'AWS_CONTAINER_CREDENTIALS_FULL_URI';
const TOKEN_FILE = 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE';

interface ProfileView {
  profile: string;
  phase: string;
  signInMethod?: string;
  identityId?: string;
  idTokenExpiresAt?: string;
  lastError?: { code: string; message: string };
}

async function profileStatus(serve: ServeProcess): Promise<ProfileView> {
  const base = new URL(serve.exports[FULL_URI] as string).origin;
  const res = await fetch(`${base}/status`, { headers: { authorization: serve.master() } });
  const body = (await res.json()) as { profiles: ProfileView[] };
  return body.profiles.find((p) => p.profile === 'default') as ProfileView;
}

async function waitForPhase(serve: ServeProcess, phase: string, timeoutMs = 20_000): Promise<ProfileView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await profileStatus(serve);
    if (view.phase === phase) return view;
    if (Date.now() > deadline) throw new Error(`phase ${phase} never came; last: ${JSON.stringify(view)}`);
    await sleep(200);
  }
}

/** Every secret the run produced: the backend's tokens, the issued AWS keys, the developer's own key. */
function allSecrets(de: DeveloperEnv): Record<string, string> {
  const secrets: Record<string, string> = { 'developer secret key': de.developerSecret };
  for (const [i, token] of de.tokens().entries()) secrets[`OpenID token ${i}`] = token;
  for (const [id, c] of de.emulator.issued) {
    secrets[`secret key of ${id}`] = c.secretKey;
    secrets[`session token of ${id}`] = c.sessionToken;
  }
  return secrets;
}

t.test('a developerIdentity profile: login runs the command at the terminal, serve keeps the OpenID token fresh, an SDK gets the credentials', async (t) => {
  if (!requireSecretService(t)) return;
  const de = await startDeveloperEnv({ backend: { user: 'alice', tokenDuration: 12 }, profile: { customRoleArn: DEVELOPER_ROLE_ARN } });
  t.teardown(() => de.stop());

  const login = await runCli(['login'], de.env);
  t.equal(login.code, 0, `login exits 0: ${login.stderr}`);
  t.match(login.stderr, /example backend: signed in as alice/, 'the command\'s stderr reaches the user at login');
  t.match(login.stderr, /Signed in as eu-west-1:[0-9a-f-]+ \(profile "default"\) through its developerIdentity command/);
  t.same(de.runs(), ['interactive'], 'login ran the command once, interactively');
  t.equal(de.emulator.calls.GetCredentialsForIdentity, 1, 'and checked that its token gives credentials');
  t.equal(de.emulator.calls.GetId, 0, 'no GetId: the backend names the IdentityId');
  t.same(secretsIn(login.stdout + login.stderr, allSecrets(de)), [], 'no secret on the terminal');

  const serve = await startServe(['--log-level', 'debug'], de.env);
  t.teardown(() => serve.stop());
  const ready = await waitForPhase(serve, 'ready');
  t.equal(ready.signInMethod, 'developer');

  // Twelve-second tokens, renewed from half-life on: over 16 s the command runs again at
  // least twice, each time before the token held expires (a run of node and the SDK takes seconds here).
  const before = de.runs().length;
  const deadline = Date.now() + 16_000;
  while (Date.now() < deadline) {
    const view = await profileStatus(serve);
    t.ok(['ready', 'refreshing', 'refreshing-ahead'].includes(view.phase), `never degraded (${view.phase})`, { diagnostic: false });
    t.ok(Date.parse(view.idTokenExpiresAt as string) > Date.now(), 'the token held has not expired', { diagnostic: false });
    await sleep(400);
  }
  const background = de.runs().slice(before);
  t.ok(background.length >= 2, `the command ran again in the background (${background.length} runs)`);
  t.ok(background.every((r) => r === 'background'), 'without a terminal');

  const served = await jsSdkClient({ region: de.region, stsUrl: de.sts.url, env: clientEnv(de.env, serve.exports, [FULL_URI, TOKEN_FILE]) }, 'default-chain');
  t.ok(de.emulator.issued.has(served.accessKeyId), 'the JS SDK got credentials the identity pool issued');
  t.equal(de.emulator.issued.get(served.accessKeyId)?.roleArn, DEVELOPER_ROLE_ARN, 'for the profile\'s customRoleArn');
  t.match(served.arn, /assumed-role\/developer-users\//, 'and a signed STS call with them was accepted');

  const status = await runCli(['status', '--json'], de.env);
  t.equal(status.code, 0, status.stderr);
  t.match(JSON.parse(status.stdout), { profiles: [{ profile: 'default', state: /^(ready|refreshing-ahead)$/, signInMethod: 'developer', identityId: ready.identityId }] }, 'status shows the developer identity');

  const text = await runCli(['status', '--table'], de.env);
  t.match(text.stdout, /signed in through the developerIdentity command at/, 'status in words');

  await serve.stop();
  t.same(secretsIn(serve.stderr() + serve.stdout(), allSecrets(de)), [], 'no secret in serve\'s log');
});

t.test('the command fails: "not signed in" needs a login, a crash is retried with backoff, a token on its stderr is redacted', async (t) => {
  if (!requireSecretService(t)) return;
  const de = await startDeveloperEnv({ backend: { user: 'bob', tokenDuration: 6 } });
  t.teardown(() => de.stop());
  t.equal((await runCli(['login'], de.env)).code, 0, 'login');
  const serve = await startServe([], de.env);
  t.teardown(() => serve.stop());
  await waitForPhase(serve, 'ready');

  de.setBackend({ user: 'bob', tokenDuration: 6, mode: 'crash' });
  const degraded = await waitForPhase(serve, 'degraded');
  t.equal(degraded.lastError?.code, 'BRK_ERR_IDENTITY_COMMAND_FAILED', 'a crash is a retryable failure');
  const runsWhileFailing = de.runs().length;
  await sleep(2_000);
  t.ok(de.runs().length - runsWhileFailing <= 3, 'retried with backoff, not in a loop');
  t.match(serve.stderr(), /connection to the directory refused/, 'the command\'s stderr is in the log');
  const response = await fetch(serve.exports[FULL_URI] as string, { headers: { authorization: serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string } });
  t.equal(response.status, 200, 'still-valid credentials are served meanwhile');

  de.setBackend({ user: 'bob', tokenDuration: 6, mode: 'leak-to-stderr' });
  await waitForPhase(serve, 'ready');
  await sleep(4_000);
  t.match(serve.stderr(), /debug: issued \[redacted\]/, 'a token the command writes to stderr is redacted in the log');

  de.setBackend({ user: 'bob', tokenDuration: 6, mode: 'signed-out' });
  const refused = await waitForPhase(serve, 'login-required');
  t.equal(refused.lastError?.code, 'BRK_ERR_LOGIN_REQUIRED', 'exit 77: login required');
  const runsAfterRefusal = de.runs().length;
  await sleep(6_000);
  t.equal(de.runs().length, runsAfterRefusal, 'the command is not run again until a new login');

  const failedLogin = await runCli(['login'], de.env);
  t.equal(failedLogin.code, 1, 'login while the backend says "not signed in" fails');
  t.match(failedLogin.stderr, /no session for this user; sign in first/);
  t.match(failedLogin.stderr, /BRK_ERR_SIGN_IN_FAILED/);

  de.setBackend({ user: 'bob', tokenDuration: 6 });
  t.equal((await runCli(['login'], de.env)).code, 0, 'a new login');
  await waitForPhase(serve, 'ready');
  t.pass('serve took the new login up');

  await serve.stop();
  t.same(secretsIn(serve.stderr() + serve.stdout(), allSecrets(de)), [], 'no secret in serve\'s log');
});

t.test('without a daemon: credential-process and exec run the command in-process, and logout leaves nothing', async (t) => {
  if (!requireSecretService(t)) return;
  const de = await startDeveloperEnv({ backend: { user: 'carol' } });
  t.teardown(() => de.stop());
  t.equal((await runCli(['login'], de.env)).code, 0, 'login');
  const result = await runCli(['credential-process'], de.env);
  t.equal(result.code, 0, result.stderr);
  const credentials = JSON.parse(result.stdout) as { AccessKeyId: string };
  t.ok(de.emulator.issued.has(credentials.AccessKeyId), 'credentials from the identity pool');
  t.same(de.runs(), ['interactive', 'background'], 'the command ran once more, without a terminal');

  // exec: the child is served by a broker of exec's own, with a token for this profile only.
  const child = "const r = await fetch(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, { headers: { authorization: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN } }); console.log(JSON.stringify(await r.json()))";
  const exec = await runCli(['exec', '--', process.execPath, '--input-type=module', '-e', child], de.env);
  t.equal(exec.code, 0, exec.stderr);
  const viaExec = JSON.parse(exec.stdout) as { AccessKeyId: string };
  t.ok(de.emulator.issued.has(viaExec.AccessKeyId), 'exec\'s child got credentials from the identity pool');

  de.setBackend({ user: 'carol', mode: 'garbage' });
  t.equal((await runCli(['logout'], de.env)).code, 0, 'logout');
  const after = await runCli(['credential-process'], de.env);
  t.not(after.code, 0, 'signed out');
  t.match(after.stderr, /BRK_ERR_NOT_SIGNED_IN/);
});

t.test('"flow": "basic": GetOpenIdToken, then AssumeRoleWithWebIdentity with the profile\'s role, session name and duration; an SDK gets them', async (t) => {
  if (!requireSecretService(t)) return;
  const roleArn = 'arn:aws:iam::123456789012:role/classic-flow';
  const de = await startDeveloperEnv({ backend: { user: 'dora' }, profile: { flow: 'basic', customRoleArn: roleArn, roleSessionName: 'dora-laptop', sessionDurationSeconds: 7200 } });
  t.teardown(() => de.stop());
  // The STS endpoint is the stub's, set after it started.
  const config = JSON.parse(readFileSync(de.configFile, 'utf8')) as { profiles: { default: { endpoints: Record<string, string> } } };
  config.profiles.default.endpoints.sts = de.sts.url;
  writeFileSync(de.configFile, JSON.stringify(config));

  t.equal((await runCli(['login'], de.env)).code, 0, 'login goes the whole basic flow');
  t.equal(de.emulator.calls.GetOpenIdToken, 1, 'GetOpenIdToken at login');
  t.equal(de.emulator.calls.GetCredentialsForIdentity, 0, 'not the enhanced flow');
  const serve = await startServe([], de.env);
  t.teardown(() => serve.stop());
  await waitForPhase(serve, 'ready');
  const view = await profileStatus(serve);
  const served = await jsSdkClient({ region: de.region, stsUrl: de.sts.url, env: clientEnv(de.env, serve.exports, [FULL_URI, TOKEN_FILE]) }, 'default-chain');
  const assumed = de.sts.assumed.get(served.accessKeyId);
  t.ok(assumed, 'the SDK got credentials STS issued by AssumeRoleWithWebIdentity');
  t.same([assumed?.roleArn, assumed?.roleSessionName, assumed?.subject], [roleArn, 'dora-laptop', view.identityId], 'for the role, session name and identity');
  t.ok(Math.abs(Date.parse(served.expiration as string) - Date.now() - 7_200_000) < 120_000, 'lasting sessionDurationSeconds');
  t.equal(served.arn, 'arn:aws:sts::123456789012:assumed-role/classic-flow/dora-laptop', 'and its signed STS call was accepted');
  await serve.stop();
  t.same(secretsIn(serve.stderr() + serve.stdout(), allSecrets(de)), [], 'no secret in serve\'s log');
});
