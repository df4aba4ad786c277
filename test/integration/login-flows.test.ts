/**
 * `cognito-broker login` end to end: the compiled CLI, a real private gnome-keyring, and
 * the user-pool emulator as the user pool (SRP server side, SECRET_HASH checks, every
 * challenge, devices). Non-interactive runs use --password-stdin, --mfa-code and
 * COGNITO_BROKER_CLIENT_SECRET; interactive ones a real pseudo-terminal.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { requireSecretService, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { CLI_BIN as MAIN, runCli, startServe } from '../support/cli.js';
import { waitForStatus } from '../support/wait-for-status.js';
import { converse, type EmulatorEnv, secretsIn, startEmulatorEnv } from '../support/emulator-env.js';
import { startTerminal } from '../support/pty-session.js';
import { type KeychainWorker, startKeychainWorker } from '../support/secret-service.js';

const PASSWORD = 'Corr3ct-horse-battery';

if (!requireSecretService(t)) process.exit(0);

let env: EmulatorEnv;
let keychain: KeychainWorker;
t.before(async () => {
  env = await startEmulatorEnv({ secret: { secret: true }, devices: { secret: true, deviceTracking: true } });
  keychain = await startKeychainWorker(env.be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
});
t.teardown(async () => {
  await keychain?.stop();
  await env?.stop();
});

const user = (username: string, spec: Record<string, unknown> = {}) => env.emu.createUser({ username, password: PASSWORD, email: `${username}@example.com`, ...spec });
const storedSession = async (profile = 'default') => JSON.parse((await keychain.get(`profile:${profile}`)) ?? 'null') as Record<string, string> | null;
const cliEnv = () => ({ ...env.be.env, NODE_NO_WARNINGS: '1' });
const onTerminal = (args: string[]) => startTerminal([process.execPath, MAIN, 'login', ...args], cliEnv());

t.test('SRP is the default: the password never reaches the pool, and the session is stored', async (t) => {
  user('sara');
  const before = { ...env.emu.calls };
  const login = await runCli(['login', '--username', 'sara', '--password-stdin'], env.be.env, `${PASSWORD}\n`);
  t.equal(login.code, 0, login.stderr);
  t.notMatch(login.stderr, /does not implement SRP/);
  t.equal(env.emu.calls.RespondToAuthChallenge - before.RespondToAuthChallenge, 1, 'PASSWORD_VERIFIER answered');
  t.match(await storedSession(), { method: 'password', username: 'sara', cognitoUsername: 'sara' });

  const plain = await runCli(['login', '--username', 'sara', '--password-stdin', '--auth-flow', 'user-password'], env.be.env, PASSWORD);
  t.equal(plain.code, 0, plain.stderr);
  const bad = await runCli(['login', '--auth-flow', 'plain'], env.be.env);
  t.equal(bad.code, 2, 'an unknown flow is a usage error');
  t.match(bad.stderr, /--auth-flow must be "srp" or "user-password"/);
});

t.test('--mfa-code answers SOFTWARE_TOKEN_MFA; a refused code fails at once with BRK_ERR_MFA_CODE_MISMATCH', async (t) => {
  user('tina', { mfa: 'totp' });
  const wrong = await runCli(['login', '--username', 'tina', '--password-stdin', '--mfa-code', '000000'], env.be.env, PASSWORD);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /--mfa-code was refused.*BRK_ERR_MFA_CODE_MISMATCH/s);
  const ok = await runCli(['login', '--username', 'tina', '--password-stdin', '--mfa-code', env.emu.totpCode('tina')], env.be.env, PASSWORD);
  t.equal(ok.code, 0, ok.stderr);
  const none = await runCli(['login', '--username', 'tina', '--password-stdin'], env.be.env, PASSWORD);
  t.equal(none.code, 1);
  t.match(none.stderr, /Cannot ask for the code from your authenticator app.*--mfa-code.*BRK_ERR_NO_TERMINAL/s);
});

for (const [method, channel, prompt] of [['SMS_MFA', 'sms', /Enter the code sent by SMS to \S+ \(reading a line from standard input\)/], ['EMAIL_OTP', 'email', /Enter the code sent by email to \S+/]] as const) {
  t.test(`--mfa-code - reads the ${method} code from stdin once the pool has sent it`, async (t) => {
    const name = `${channel}-user`;
    user(name, { mfa: channel });
    const run = converse(['login', '--username', name, '--password-stdin', '--mfa-code', '-'], env.be.env);
    run.line(PASSWORD);
    await run.waitFor(prompt);
    run.line(env.emu.lastCode(name, channel) as string);
    t.equal(await run.exit(), 0, run.stderr());
    t.match(await storedSession(), { username: name });
  });
}

t.test('SELECT_MFA_TYPE without a terminal takes --mfa-method', async (t) => {
  user('sel', { mfa: ['sms', 'totp'] });
  const login = await runCli(['login', '--username', 'sel', '--password-stdin', '--mfa-method', 'totp', '--mfa-code', env.emu.totpCode('sel')], env.be.env, PASSWORD);
  t.equal(login.code, 0, login.stderr);
});

t.test('MFA_SETUP without a terminal: the otpauth URI is shown, the code read from stdin', async (t) => {
  user('nova', { mfaRequired: true });
  const run = converse(['login', '--username', 'nova', '--password-stdin', '--mfa-code', '-'], env.be.env);
  run.line(PASSWORD);
  const [uri] = await run.waitFor(/otpauth:\/\/totp\/\S+/);
  t.match(uri, /^otpauth:\/\/totp\/Cognito%20[\w-]+:nova\?secret=[A-Z2-7]+&issuer=Cognito%20/);
  await run.waitFor(/Enter the code your authenticator app now shows/);
  run.line(env.emu.totpCode('nova'));
  t.equal(await run.exit(), 0, run.stderr());
  t.equal(env.emu.calls.VerifySoftwareToken >= 1, true);
});

t.test('on a terminal: a wrong SMS code is said to be refused and a second one works, in the same session', async (t) => {
  user('sid', { mfa: 'sms' });
  const term = onTerminal(['--username', 'sid']);
  await term.waitFor(/Password:/);
  term.type(`${PASSWORD}\r`);
  await term.waitFor(/Enter the code sent by SMS/);
  term.type('000000\r');
  await term.waitFor(/That code was refused: .*CodeMismatchException/);
  await term.waitFor(/Enter the code sent by SMS/);
  term.type(`${env.emu.lastCode('sid', 'sms')}\r`);
  await term.waitFor(/Signed in as sid/);
  t.equal(await term.exit(), 0);
  t.equal(env.emu.messages.filter((m) => m.username === 'sid').length, 1, 'one code sent: the retry stayed in the challenge session');
  t.notOk(term.output().includes(PASSWORD), 'the password is masked');
});

t.test('on a terminal: TOTP, email and a choice of method', async (t) => {
  user('tom', { mfa: 'totp' });
  let term = onTerminal(['--username', 'tom']);
  await term.waitFor(/Password:/);
  term.type(`${PASSWORD}\r`);
  await term.waitFor(/Enter the code from your authenticator app/);
  term.type(`${env.emu.totpCode('tom')}\r`);
  t.equal(await term.exit(), 0, term.output());

  user('eve', { mfa: 'email' });
  term = onTerminal(['--username', 'eve']);
  await term.waitFor(/Password:/);
  term.type(`${PASSWORD}\r`);
  await term.waitFor(/Enter the code sent by email/);
  term.type(`${env.emu.lastCode('eve', 'email')}\r`);
  t.equal(await term.exit(), 0, term.output());

  user('cho', { mfa: ['sms', 'email'] });
  term = onTerminal(['--username', 'cho']);
  await term.waitFor(/Password:/);
  term.type(`${PASSWORD}\r`);
  await term.waitFor(/Choose an MFA method \(sms, email\)/);
  term.type('email\r');
  await term.waitFor(/Enter the code sent by email/);
  term.type(`${env.emu.lastCode('cho', 'email')}\r`);
  t.equal(await term.exit(), 0, term.output());
});

t.test('on a terminal: MFA_SETUP shows a QR code and the otpauth URI, then takes the app\'s code', async (t) => {
  user('quin', { mfaRequired: true });
  const term = onTerminal(['--username', 'quin']);
  await term.waitFor(/Password:/);
  term.type(`${PASSWORD}\r`);
  await term.waitFor(/Scan this QR code/);
  await term.waitFor(/otpauth:\/\/totp\/\S+secret=/);
  await term.waitFor(/Enter the code your authenticator app now shows/);
  t.match(term.output(), /[█▀▄]{10,}/, 'a QR code drawn with block characters');
  term.type(`${env.emu.totpCode('quin')}\r`);
  await term.waitFor(/Signed in as quin/);
  t.equal(await term.exit(), 0);
});

t.test('on a terminal: NEW_PASSWORD_REQUIRED asks for the new password and each required attribute', async (t) => {
  user('neo', { forceNewPassword: true, requiredAttributes: ['name'] });
  const term = onTerminal(['--username', 'neo']);
  await term.waitFor(/Password:/);
  term.type(`${PASSWORD}\r`);
  await term.waitFor(/New password:/);
  term.type('Brand-new-Passw0rd!\r');
  await term.waitFor(/New password again:/);
  term.type('Brand-new-Passw0rd!\r');
  await term.waitFor(/requires the attribute "name"/);
  term.type('Neo Anderson\r');
  await term.waitFor(/Signed in as neo/);
  t.equal(await term.exit(), 0);
  t.notOk(term.output().includes('Brand-new-Passw0rd!'), 'masked');
});

t.test('a client secret is asked once (masked), kept in the keychain, and never in the config, argv, output or logs', async (t) => {
  const secret = env.secrets.secret as string;
  user('sam');
  const without = await runCli(['login', '--profile', 'secret', '--username', 'sam', '--password-stdin'], env.be.env, PASSWORD);
  t.equal(without.code, 1, 'no terminal, no secret: a clear error');
  t.match(without.stderr, /client secret and none was given.*COGNITO_BROKER_CLIENT_SECRET.*BRK_ERR_CLIENT_SECRET/s);

  // On a terminal the pool's refusal leads to the question, once.
  const term = onTerminal(['--profile', 'secret', '--username', 'sam']);
  await term.waitFor(/Password:/);
  term.type(`${PASSWORD}\r`);
  await term.waitFor(/This app client has a client secret/);
  await term.waitFor(/Client secret of the app client:/);
  term.type(`${secret}\r`);
  await term.waitFor(/Signed in as sam/);
  t.equal(await term.exit(), 0);
  t.notOk(term.output().includes(secret), 'the secret is masked');
  t.equal(JSON.parse((await keychain.get('client-secret:secret')) as string).secret, secret, 'kept in its own keychain entry');

  // Asked once: the next login, without a terminal, uses the stored one.
  const again = await runCli(['login', '--profile', 'secret', '--username', 'sam', '--password-stdin'], env.be.env, PASSWORD);
  t.equal(again.code, 0, again.stderr);
  t.match(await storedSession('secret'), { clientSecret: secret, cognitoUsername: 'sam' });

  // Without a terminal the first time: COGNITO_BROKER_CLIENT_SECRET, read once and stored.
  env.addProfiles({ secret2: { clientId: JSON.parse(readFileSync(env.be.configFile, 'utf8')).profiles.secret.clientId } });
  const wrongEnv = await runCli(['login', '--profile', 'secret2', '--username', 'sam', '--password-stdin'], { ...env.be.env, COGNITO_BROKER_CLIENT_SECRET: 'not-it' }, PASSWORD);
  t.equal(wrongEnv.code, 1);
  t.match(wrongEnv.stderr, /refused the client secret.*BRK_ERR_CLIENT_SECRET/s);
  const viaEnv = await runCli(['login', '--profile', 'secret2', '--username', 'sam', '--password-stdin'], { ...env.be.env, COGNITO_BROKER_CLIENT_SECRET: secret }, PASSWORD);
  t.equal(viaEnv.code, 0, viaEnv.stderr);
  const later = await runCli(['login', '--profile', 'secret2', '--username', 'sam', '--password-stdin'], env.be.env, PASSWORD);
  t.equal(later.code, 0, `stored after the env login: ${later.stderr}`);

  // serve refreshes with it (GetTokensFromRefreshToken checks it) and logs nothing of it.
  const calls = env.emu.calls.GetTokensFromRefreshToken;
  const serve = await startServe(['--log-level', 'trace'], env.be.env);
  t.teardown(() => serve.stop());
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const response = await waitForStatus(`${base}/profiles/secret/credentials`, serve.master());
  t.equal(response, 200, 'credentials served for the secret client');
  t.ok(env.emu.calls.GetTokensFromRefreshToken > calls, 'refreshed with the secret');
  const session = await storedSession('secret');
  await serve.stop();

  const places: Record<string, string> = {
    config: readFileSync(env.be.configFile, 'utf8'),
    'serve log': serve.stderr(),
    'serve argv': serve.child.spawnargs.join(' '),
    'login output': [without, again, wrongEnv, viaEnv, later].map((r) => r.stdout + r.stderr).join('\n') + term.output(),
  };
  for (const [where, text] of Object.entries(places)) {
    t.same(secretsIn(text, { 'client secret': secret, password: PASSWORD, 'refresh token': session?.refreshToken as string }), [], `no secret in the ${where}`);
  }
});

t.test('a remembered device: confirmed after the first login, the next login asks no MFA, refresh sends DEVICE_KEY', async (t) => {
  user('dora', { mfa: 'sms' });
  const secretEnv = { ...env.be.env, COGNITO_BROKER_CLIENT_SECRET: env.secrets.devices as string };
  const first = converse(['login', '--profile', 'devices', '--username', 'dora', '--password-stdin', '--mfa-code', '-'], secretEnv);
  first.line(PASSWORD);
  await first.waitFor(/Enter the code sent by SMS/);
  const code = env.emu.lastCode('dora', 'sms') as string;
  first.line(code);
  t.equal(await first.exit(), 0, first.stderr());
  t.match(first.stderr(), /This device is remembered/);
  const device = JSON.parse((await keychain.get('device:devices')) as string) as Record<string, string>;
  t.match(device, { username: 'dora', cognitoUsername: 'dora', deviceKey: /.+/, deviceGroupKey: /.+/, devicePassword: /.{40,}/ });
  t.match(env.emu.devices('dora'), [{ deviceKey: device.deviceKey, confirmed: true, remembered: true }]);
  t.equal((await storedSession('devices'))?.deviceKey, device.deviceKey, 'the session is bound to the device');

  const sent = env.emu.messages.length;
  const second = await runCli(['login', '--profile', 'devices', '--username', 'dora', '--password-stdin'], env.be.env, PASSWORD);
  t.equal(second.code, 0, `no MFA asked (no terminal, no --mfa-code): ${second.stderr}`);
  t.equal(env.emu.messages.length, sent, 'no code sent');
  t.equal(env.emu.devices('dora').length, 1, 'no new device');
  t.equal(JSON.parse((await keychain.get('device:devices')) as string).deviceKey, device.deviceKey, 'the device entry survived the new login');

  const calls = env.emu.calls.GetTokensFromRefreshToken;
  const serve = await startServe(['--log-level', 'trace'], env.be.env);
  t.teardown(() => serve.stop());
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  t.equal(await waitForStatus(`${base}/profiles/devices/token`, serve.master()), 200, 'refreshed: the pool accepted DEVICE_KEY');
  t.ok(env.emu.calls.GetTokensFromRefreshToken > calls);
  await serve.stop();
  const session = await storedSession('devices');
  const outputs = first.stderr() + first.stdout() + second.stderr + second.stdout + serve.stderr() + serve.child.spawnargs.join(' ');
  t.same(secretsIn(outputs, { 'device password': device.devicePassword as string, 'SMS code': code, password: PASSWORD, 'client secret': env.secrets.devices as string, 'refresh token': session?.refreshToken as string }), [], 'no secret in outputs, logs or argv');
});

