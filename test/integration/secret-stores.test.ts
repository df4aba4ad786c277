/**
 * The secret stores for machines without a keychain ("secretStore": "file" and "kernel"),
 * through the compiled CLI with no D-Bus at all (DBUS_SESSION_BUS_ADDRESS points nowhere),
 * against the local stack's user-pool emulator: login (with a client secret and a remembered
 * device), status, serve, refreshes with refresh-token rotation, logout. The kernel keyring
 * runs as a user of a headless box runs it: each command under `keyctl session -` (a session
 * keyring of its own; login's and serve's are different ones, as after a logout).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { startLocalStack, type LocalStack } from '../../testkit/local-stack.js';
import type { UserPoolEmulator } from '../../testkit/emulators/user-pool-emulator.js';
import { type CliOptions, runCli, startServe } from '../support/cli.js';
import { requireTool } from '../support/require-tool.js';
import { REPO } from '../support/paths.js';

const run = promisify(execFile);
const KERNEL_STORE = pathToFileURL(join(REPO, 'dist', 'src', 'store', 'kernel-keyring-store.js')).href;
/** Short ID/access tokens: the broker renews at about half the lifetime. */
const LIFETIME_S = 12;
const PASSWORD = 'St0res-passw0rd!';
const NO_DBUS = 'unix:path=/nonexistent/cognito-broker-test-bus';
const KEYCTL_SESSION = ['keyctl', 'session', '-'];

let stack: LocalStack;
let emu: UserPoolEmulator;
let clientId: string;
let clientSecret: string;

t.before(async () => {
  stack = await startLocalStack({ userPoolEmulator: { primary: true, deviceTracking: true, user: { username: 'stack-user' } } });
  emu = stack.userPoolEmulator?.emulator as UserPoolEmulator;
  const client = emu.createClient({ name: 'stores', rotation: true, gracePeriodSeconds: 30, secret: true, lifetimes: { idTokenSeconds: LIFETIME_S, accessTokenSeconds: LIFETIME_S } });
  clientId = client.clientId;
  clientSecret = client.clientSecret as string;
  emu.createUser({ username: 'sam', password: PASSWORD });
});
t.teardown(() => stack?.stop());

interface StoreEnv {
  readonly dir: string;
  readonly stateDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly service: string;
}

function storeEnv(t: Test, secretStore: string): StoreEnv {
  const dir = mkdtempSync(join(tmpdir(), `cb-store-${secretStore}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { username: _none, ...profile } = stack.profile;
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ secretStore, server: { host: '127.0.0.1', port: 0 }, profiles: { default: { ...profile, clientId, username: 'sam' } } }));
  // Keys in the kernel's persistent keyring are the user's, shared by every test run: a service of its own.
  const service = `cognito-broker-test-${process.pid}-${secretStore}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    DBUS_SESSION_BUS_ADDRESS: NO_DBUS,
    COGNITO_BROKER_CONFIG: configFile,
    COGNITO_BROKER_KEYCHAIN_SERVICE: service,
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
  };
  return { dir, stateDir: join(dir, 'state', 'cognito-broker'), env, service };
}

/** Every file under `dir` whose content holds `secret`, relative to `dir`. */
function filesHolding(dir: string, secret: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => {
      try {
        return readFileSync(file, 'utf8').includes(secret);
      } catch (error) {
        // Renamed or removed since the listing: an atomic write finishing.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw error;
      }
    })
    .map((file) => file.slice(dir.length + 1))
    .sort();
}

/** One store, end to end; `read` gives what the store holds under an account, by another way than the CLI. */
async function endToEnd(t: Test, kind: 'file' | 'kernel', se: StoreEnv, read: (account: string) => Promise<string | undefined>, cli: CliOptions): Promise<void> {
  const login = await runCli(['login', '--password-stdin'], { ...se.env, COGNITO_BROKER_CLIENT_SECRET: clientSecret }, PASSWORD, cli);
  t.equal(login.code, 0, login.stderr);
  t.match(login.stderr, kind === 'file'
    ? /The refresh token is in a plain file in .*secrets \(mode 0600, not encrypted: readable by you and by root\)\./
    : /The refresh token is in the Linux kernel keyring \(kept until this machine reboots; it survives logout\)\./);

  const first = JSON.parse((await read('profile:default')) ?? '{}') as { refreshToken?: string };
  t.ok(first.refreshToken, 'the session is in the store');
  t.equal(JSON.parse((await read('client-secret:default')) ?? '{}').secret, clientSecret, 'the client secret too');
  t.ok(await read('device:default'), 'and the remembered device');

  const offline = await runCli(['status', '--json'], se.env, undefined, cli);
  const report = JSON.parse(offline.stdout) as { profiles: { signedIn: boolean; user: string; secretStore: string }[]; secretStore: { kind: string } };
  t.match(report.profiles[0], { signedIn: true, user: 'sam', secretStore: kind }, 'status reads the store without a daemon');
  t.equal(report.secretStore.kind, kind);
  const table = await runCli(['status', '--table'], se.env, undefined, cli);
  t.match(table.stdout, kind === 'file' ? /kept in a plain file \(0600, not encrypted\)/ : /kept in the kernel keyring \(until reboot\)/);
  t.match(table.stdout, new RegExp(`Secrets \\(secretStore ${kind}\\): ${kind === 'file' ? 'a plain file in' : 'the Linux kernel keyring'}`));

  const serve = await startServe([], se.env, cli);
  t.teardown(() => serve.stop());
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const headers = { authorization: serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string };
  const credentials = await fetch(`${base}/credentials`, { headers });
  t.equal(credentials.status, 200, 'serve serves credentials from the session in the store');
  const creds = (await credentials.json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };

  // Rotation: each refresh brings a new refresh token, which must land in the store.
  const idTokens = new Set<string>();
  const refreshTokens = new Set<string>([first.refreshToken as string]);
  const until = Date.now() + 4 * LIFETIME_S * 1000;
  while (Date.now() < until && (idTokens.size < 3 || refreshTokens.size < 3)) {
    const answer = await fetch(`${base}/token`, { headers: { authorization: serve.master() } });
    if (answer.status === 200) idTokens.add(((await answer.json()) as { IdToken: string }).IdToken);
    const stored = JSON.parse((await read('profile:default')) ?? '{}') as { refreshToken?: string };
    if (stored.refreshToken) refreshTokens.add(stored.refreshToken);
    await sleep(500);
  }
  t.ok(idTokens.size >= 3, `serve refreshed the ID token (${idTokens.size} seen)`);
  t.ok(refreshTokens.size >= 3, `each rotated refresh token was written back to the store (${refreshTokens.size} seen)`);
  t.ok(emu.calls.GetTokensFromRefreshToken > 0);

  const logout = await runCli(['logout'], se.env, undefined, cli);
  t.equal(logout.code, 0, logout.stderr);
  t.equal(await read('profile:default'), undefined, 'logout deleted the session');
  t.equal(await read('client-secret:default'), undefined, 'and the client secret');
  t.equal(await read('device:default'), undefined, 'and the device');
  for (let i = 0; i < 100 && (await serve.phase()) !== 'signed-out'; i++) await sleep(100);
  t.equal(await serve.phase(), 'signed-out', 'the running daemon follows the logout');
  t.equal(await serve.stop(), 0);

  // Nothing secret outside the store: not in the outputs, the log, or any other file.
  const outputs = [login.stdout, login.stderr, offline.stdout, offline.stderr, table.stdout, serve.stderr(), serve.stdout(), logout.stderr].join('\n');
  const secrets = { clientSecret, accessKey: creds.SecretAccessKey, sessionToken: creds.Token, ...Object.fromEntries([...refreshTokens].map((r, i) => [`refreshToken${i}`, r])), ...Object.fromEntries([...idTokens].map((r, i) => [`idToken${i}`, r])) };
  t.same(Object.entries(secrets).filter(([, v]) => outputs.includes(v)).map(([k]) => k), [], 'no secret in any output or log');
  t.same(Object.values(secrets).flatMap((v) => filesHolding(se.dir, v)), [], 'no secret left in any file after logout');
}

t.test('"secretStore": "file": login, status, serve, refreshes with rotation and logout, with no D-Bus; 0600 files in a 0700 directory', async (t) => {
  const se = storeEnv(t, 'file');
  const secretsDir = join(se.stateDir, 'secrets');
  const fileOf = (account: string) => join(secretsDir, `${account.replace(':', '%3a')}.json`);
  const modes: string[] = [];
  const read = async (account: string) => {
    let text: string;
    try {
      text = readFileSync(fileOf(account), 'utf8');
    } catch {
      return undefined;
    }
    modes.push(`${(statSync(secretsDir).mode & 0o777).toString(8)} ${(statSync(fileOf(account)).mode & 0o777).toString(8)}`);
    // While signed in, the refresh token is in the store's file and nowhere else. While serve
    // writes a rotated token, the store's atomic write has it in a temporary file beside that
    // file (same directory, same mode) until the rename: that file being replaced, not a copy.
    // What is left after logout is checked below, temporary files included.
    const session = JSON.parse((JSON.parse(text) as { value: string }).value) as { refreshToken?: string };
    const storeFile = 'state/cognito-broker/secrets/profile%3adefault.json';
    const inFlight = (file: string) => /^\.[0-9a-f]+\.tmp$/.test(file.slice(storeFile.length)) && file.startsWith(storeFile);
    if (session.refreshToken) t.same(filesHolding(se.dir, session.refreshToken).filter((file) => !inFlight(file)), [storeFile], 'the refresh token is only in its file');
    return (JSON.parse(text) as { value: string }).value;
  };
  await endToEnd(t, 'file', se, read, {});
  t.ok(modes.length > 0 && modes.every((m) => m === '700 600'), `the directory 0700 and each file 0600 every time it was looked at (${[...new Set(modes)].join(', ')})`);
});

const LINUX_ONLY = { skip: process.platform !== 'linux' && 'the kernel keyring is Linux only' };

t.test('"secretStore": "kernel": the same through the kernel keyring, each command in a session keyring of its own, with no D-Bus', LINUX_ONLY, async (t) => {
  if (!requireTool(t, 'keyctl', 'apt-get install keyutils')) return;
  const se = storeEnv(t, 'kernel');
  // Read back from yet another session keyring, through the store's own layout.
  const read = async (account: string): Promise<string | undefined> => {
    const script = `const { KernelKeyringStore } = await import(${JSON.stringify(KERNEL_STORE)}); const v = await new KernelKeyringStore({ service: process.env.SERVICE }).get(process.env.ACCOUNT); process.stdout.write(JSON.stringify(v ?? null));`;
    const { stdout } = await run('keyctl', ['session', '-', process.execPath, '--input-type=module', '-e', script], { env: { PATH: process.env.PATH, SERVICE: se.service, ACCOUNT: account } });
    return (JSON.parse(stdout) as string | null) ?? undefined;
  };
  t.teardown(async () => {
    // A failed run leaves nothing behind in the user's persistent keyring.
    const script = `const { KernelKeyringStore } = await import(${JSON.stringify(KERNEL_STORE)}); const s = new KernelKeyringStore({ service: process.env.SERVICE }); for (const a of ['profile:default', 'client-secret:default', 'device:default']) await s.delete(a);`;
    await run('keyctl', ['session', '-', process.execPath, '--input-type=module', '-e', script], { env: { PATH: process.env.PATH, SERVICE: se.service } }).catch(() => undefined);
  });
  await endToEnd(t, 'kernel', se, read, { prefix: KEYCTL_SESSION });
  t.same(readdirSync(se.stateDir).filter((name) => name === 'secrets'), [], 'no secrets directory: nothing went to a file');
});

t.test('"secretStore": "kernel" in a process without a session keyring is an error that says to use keyctl session, never "not signed in"', LINUX_ONLY, async (t) => {
  if (!requireTool(t, 'keyctl', 'apt-get install keyutils')) return;
  // A session keyring is inherited: under a PAM login every process has one, and this case cannot be made.
  const { stdout } = await run('keyctl', ['rdescribe', '@s']);
  if (!/;_uid_ses\.\d+$/.test(stdout.trim())) return t.plan(0, `this test runs inside a session keyring (${stdout.trim()})`);
  const se = storeEnv(t, 'kernel');
  const login = await runCli(['login', '--password-stdin'], { ...se.env, COGNITO_BROKER_CLIENT_SECRET: clientSecret }, PASSWORD);
  t.equal(login.code, 1);
  t.match(login.stderr, /The Linux kernel keyring \("secretStore": "kernel"\) cannot be used \(the kernel refused access: this process has no session keyring\)\..*keyctl session.*"secretStore": "file"/s);
  t.match(login.stderr, /\[BRK_ERR_KEYCHAIN_UNAVAILABLE\]\n$/);
  const status = await runCli(['status', '--json'], se.env);
  const report = JSON.parse(status.stdout) as { profiles: { signedIn: boolean | null; lastError: { code: string } | null }[] };
  t.match(report.profiles[0], { signedIn: null, lastError: { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE' } }, 'status says the store is unusable, not that nobody signed in');
});

t.test('with the OS keychain unavailable, the error names "secretStore" and its choices', async (t) => {
  const se = storeEnv(t, 'keychain');
  const login = await runCli(['login', '--password-stdin'], { ...se.env, COGNITO_BROKER_CLIENT_SECRET: clientSecret }, PASSWORD);
  t.not(login.code, 0);
  t.match(login.stderr, /The OS keychain is locked or unavailable \(.*\)\. .*set "secretStore" in the config to "kernel" \(the Linux kernel keyring, until reboot\) or "file" \(a 0600 file under the state directory\)/s);
  t.notOk(existsSync(join(se.stateDir, 'secrets')), 'and no file was written in its place');
});
