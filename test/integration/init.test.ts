/**
 * `cognito-broker init` through the compiled CLI against the local stack (cognito-local,
 * the identity-pool emulator, the user-pool emulator): the flags write a config that
 * `login` then signs in with; formats, unknown ids and an existing file refuse and write
 * nothing; an unreachable service is a warning; at a terminal it asks.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startLocalStack, type LocalStack } from '../../testkit/local-stack.js';
import { CLI_BIN as MAIN, runCli } from '../support/cli.js';
import { onTerminal } from '../support/pty.js';

const NO_DBUS = 'unix:path=/nonexistent/cognito-broker-test-bus';

let stack: LocalStack;
t.before(async () => {
  stack = await startLocalStack({ userPoolEmulator: true });
});
t.teardown(() => stack?.stop());

function setup(t: Test): { dir: string; env: NodeJS.ProcessEnv; configFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cb-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, HOME: dir, DBUS_SESSION_BUS_ADDRESS: NO_DBUS, XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state') };
  return { dir, env, configFile: join(dir, 'config', 'cognito-broker', 'config.json') };
}

/** Every flag init takes, for the stack's own pools, with the file store (no keychain here). */
function stackFlags(over: Record<string, string> = {}): string[] {
  const p = stack.profile;
  const values: Record<string, string> = {
    region: p.region,
    'user-pool-id': p.userPoolId,
    'client-id': p.clientId,
    'identity-pool-id': p.identityPoolId,
    username: p.username,
    port: '0',
    'secret-store': 'file',
    'cognito-idp-endpoint': p.endpoints.cognitoIdp,
    'cognito-identity-endpoint': p.endpoints.cognitoIdentity,
    ...over,
  };
  return Object.entries(values).flatMap(([flag, value]) => [`--${flag}`, value]);
}

t.test('with flags it asks nothing, checks each id with the services, writes a 0600 config, and login signs in with it', async (t) => {
  const { env, configFile } = setup(t);
  const before = await runCli(['login'], env);
  t.equal(before.code, 78);
  t.match(before.stderr, /No config file at .*config\.json\. Run `cognito-broker init` to write one/, 'the "no config" error points at init');

  const init = await runCli(['init', ...stackFlags()], env);
  t.equal(init.code, 0, init.stderr);
  t.match(init.stderr, new RegExp(`Wrote profile "default" to ${configFile.replaceAll('.', '\\.')} \\(mode 0600\\)\\.`));
  t.match(init.stderr, /Checked the user pool: its OpenID configuration and signing keys are published\./);
  t.match(init.stderr, /Checked the app client: the user pool knows the app client\./);
  t.match(init.stderr, /Checked the identity pool: the identity pool exists\./);
  t.match(init.stderr, /Next steps:\n {2}cognito-broker login +# sign in; the refresh token goes to a plain file in .*\n {2}cognito-broker serve +# run the broker.*\n {2}eval "\$\(cognito-broker env\)" +# point this shell's AWS SDKs at it\n/);
  t.equal(statSync(configFile).mode & 0o777, 0o600);
  const p = stack.profile;
  t.same(JSON.parse(readFileSync(configFile, 'utf8')), {
    secretStore: 'file',
    server: { port: 0 },
    profiles: { default: { region: p.region, userPoolId: p.userPoolId, clientId: p.clientId, identityPoolId: p.identityPoolId, username: p.username, endpoints: p.endpoints } },
  });

  const login = await runCli(['login', '--password-stdin'], env, stack.password);
  t.equal(login.code, 0, login.stderr);
  t.match(login.stderr, new RegExp(`Signed in as ${p.username} \\(profile "default"\\)`));
  const status = await runCli(['status', '--json'], env);
  t.match(JSON.parse(status.stdout), { profiles: [{ profile: 'default', signedIn: true, user: p.username, secretStore: 'file' }] });
});

t.test('an existing config is not written over without --force; with it the profile is added and the rest kept', async (t) => {
  const { env, configFile } = setup(t);
  t.equal((await runCli(['init', ...stackFlags()], env)).code, 0);
  const first = readFileSync(configFile, 'utf8');
  const again = await runCli(['init', ...stackFlags({ region: 'eu-west-1' })], env);
  t.equal(again.code, 1);
  t.match(again.stderr, /A config file already exists at .*config\.json; nothing was written\. `cognito-broker init --force` adds profile "default" to it.*\[BRK_ERR_CONFIG_EXISTS\]/);
  t.equal(readFileSync(configFile, 'utf8'), first, 'the file is untouched');

  const forced = await runCli(['init', '--force', '--profile', 'second', ...stackFlags({ 'secret-store': 'kernel' })], env);
  t.equal(forced.code, 0, forced.stderr);
  const merged = JSON.parse(readFileSync(configFile, 'utf8')) as { secretStore: string; profiles: Record<string, unknown> };
  t.same(Object.keys(merged.profiles), ['default', 'second'], 'the first profile is kept, the new one added');
  t.equal(merged.secretStore, 'kernel', '--secret-store replaces the file\'s');
  t.match(forced.stderr, /cognito-broker login --profile second +# sign in; the refresh token goes to the Linux kernel keyring/);
});

t.test('bad formats are named by their flags, before any check, and nothing is written', async (t) => {
  const { env, configFile } = setup(t);
  const bad = await runCli(['init', '--region', 'Tokyo', '--user-pool-id', 'no-underscore', '--client-id', 'has space', '--identity-pool-id', 'eu-west-1:0000', '--secret-store', 'vault', '--port', '70000'], env);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--region: an AWS region such as "eu-west-1"/);
  t.match(bad.stderr, /--user-pool-id: a user pool id such as "eu-west-1_AbCdEf123"/);
  t.match(bad.stderr, /--client-id: the app client id/);
  t.match(bad.stderr, /--secret-store: keychain, kernel, file, not "vault"/);
  t.match(bad.stderr, /--port: a TCP port/);
  const region = await runCli(['init', '--region', 'eu-west-1', '--user-pool-id', 'us-east-1_AbCdEf123', '--client-id', 'abc', '--identity-pool-id', 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666'], env);
  t.equal(region.code, 2);
  t.match(region.stderr, /--user-pool-id: the id is of region us-east-1, not eu-west-1 \(--region\)/);
  const insecure = await runCli(['init', ...stackFlags({ 'cognito-idp-endpoint': 'http://cognito.example.com' })], env);
  t.equal(insecure.code, 2);
  t.match(insecure.stderr, /the config would not be valid, so nothing was written: --cognito-idp-endpoint: an https:\/\/ URL, or http:\/\/ to this machine/);
  const missing = await runCli(['init', '--region', 'eu-west-1'], env);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /missing --user-pool-id, --client-id, --identity-pool-id \(without a terminal nothing can be asked; at a terminal, init asks\)/);
  t.notOk(existsSync(configFile), 'nothing was written');
});

t.test('ids the services do not know are named, and nothing is written', async (t) => {
  const { env, configFile } = setup(t);
  const unknownPool = `${stack.region}:00000000-0000-4000-8000-000000000000`;
  const result = await runCli(['init', ...stackFlags({ 'client-id': 'nosuchclient123', 'identity-pool-id': unknownPool })], env);
  t.equal(result.code, 1);
  t.match(result.stderr, /Cognito does not know what the config would name, so nothing was written to .*config\.json:/);
  t.match(result.stderr, /--client-id nosuchclient123: no app client nosuchclient123 in this region/);
  t.match(result.stderr, new RegExp(`--identity-pool-id ${unknownPool}: no identity pool ${unknownPool} in this region`));
  t.notMatch(result.stderr, /--user-pool-id/, 'the user pool is not blamed');
  t.match(result.stderr, /\[BRK_ERR_INIT_CHECK_FAILED\]\n$/);
  t.notOk(existsSync(configFile));

  // cognito-local publishes an OpenID configuration for any pool id; the user-pool emulator,
  // like Cognito, only for its own.
  const emulator = stack.userPoolEmulator?.profile;
  if (!emulator) throw new Error('no user-pool emulator in the stack');
  const pool = await runCli(['init', ...stackFlags({ 'user-pool-id': `${stack.region}_NoSuchPool1`, 'client-id': emulator.clientId, 'cognito-idp-endpoint': emulator.endpoints.cognitoIdp })], env);
  t.equal(pool.code, 1, pool.stderr);
  t.match(pool.stderr, new RegExp(`--user-pool-id ${stack.region}_NoSuchPool1: no user pool ${stack.region}_NoSuchPool1 there: .*/\\.well-known/openid-configuration answered HTTP 404`));
  t.notOk(existsSync(configFile));
});

t.test('services that cannot be reached: written with a warning for each check that could not run; --no-check asks nothing', async (t) => {
  const { env, configFile } = setup(t);
  const closed = await closedPort();
  const result = await runCli(['init', ...stackFlags({ 'cognito-idp-endpoint': `http://127.0.0.1:${closed}`, 'cognito-identity-endpoint': `http://127.0.0.1:${closed}` })], env);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /Warning: could not check the user pool \(.*did not answer.*\); written unchecked\./);
  t.match(result.stderr, /Warning: could not check the app client/);
  t.match(result.stderr, /Warning: could not check the identity pool/);
  t.ok(existsSync(configFile));
  const skipped = await runCli(['init', '--force', '--no-check', ...stackFlags({ 'client-id': 'nosuchclient123' })], env);
  t.equal(skipped.code, 0, skipped.stderr);
  t.match(skipped.stderr, /Not checked with Cognito \(--no-check\)\./);
});

t.test('at a terminal it asks for what the flags leave out, refusing a bad answer until it is right', async (t) => {
  const { env, configFile } = setup(t);
  const p = stack.profile;
  const result = await onTerminal(
    [process.execPath, MAIN, 'init', '--secret-store', 'file', '--cognito-idp-endpoint', p.endpoints.cognitoIdp, '--cognito-identity-endpoint', p.endpoints.cognitoIdentity],
    { ...env, NODE_NO_WARNINGS: '1' },
    [
      [/AWS region/, 'Tokyo\r'],
      [/an AWS region such as/, `\x15${p.region}\r`],
      [/User pool id/, `${p.userPoolId}\r`],
      [/App client id/, `${p.clientId}\r`],
      [/Identity pool id/, `${p.identityPoolId}\r`],
      [/Username to sign in as/, `${p.username}\r`],
      [/Managed login domain/, '\r'],
    ],
  );
  t.same(result.unanswered, [], 'every question was asked');
  t.equal(result.exit, 0, result.output);
  t.match(result.output, /Wrote profile "default"/);
  t.same(JSON.parse(readFileSync(configFile, 'utf8')).profiles.default, { region: p.region, userPoolId: p.userPoolId, clientId: p.clientId, identityPoolId: p.identityPoolId, username: p.username, endpoints: p.endpoints });
});

t.test('an existing file that is not a JSON object is not merged into, even with --force', async (t) => {
  const { dir, env } = setup(t);
  const file = join(dir, 'broken.json');
  writeFileSync(file, '{ not json');
  const result = await runCli(['init', '--force', '--config', file, ...stackFlags()], env);
  t.equal(result.code, 78);
  t.match(result.stderr, /\$: a JSON object to add the profile to \(fix or remove the file, then run init again\)/);
  t.equal(readFileSync(file, 'utf8'), '{ not json');
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
