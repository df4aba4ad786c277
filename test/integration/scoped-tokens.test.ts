/**
 * What each token opens, through the compiled CLI, a running serve, the local stack and the
 * real Secret Service: env's profile tokens, exec's child tokens (gone with the child), the
 * master's rotation, a token file others could read, and serve's output on a terminal or not.
 */
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { requireSecretService, startBrokerEnv, type BrokerEnv } from '../support/broker-env.js';
import { CLI_BIN as MAIN, runCli, startServe } from '../support/cli.js';
import { startTerminal } from '../support/pty-session.js';
import { waitFor } from '../../testkit/wait.js';
import { repoPath } from '../support/paths.js';
import { withoutTapHooks } from '../../testkit/children.js';

/** How long and how often the checks below look again. */
const STEP = { timeoutMs: 8_000, intervalMs: 100 };

const REPO_PACKAGE = repoPath('package.json');

/** The shell variables from `env`'s output. */
function exportsOf(stdout: string): Record<string, string> {
  return Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1] as string, (m[2] as string).replace(/^'(.*)'$/, '$1')]));
}

async function status(url: string, token: string): Promise<number> {
  return (await fetch(url, { headers: { authorization: token } })).status;
}

/** The JS SDK's default chain in a child, with only the variables `env` printed: its AccessKeyId. */
const SDK_CHILD = `
import { createRequire } from 'node:module';
const require = createRequire(process.env.REPO_PACKAGE);
const { fromNodeProviderChain } = require('@aws-sdk/credential-providers');
try { console.log((await fromNodeProviderChain()()).accessKeyId); } catch (e) { console.log('FAILED ' + e.message); }`;

async function sdkWith(be: BrokerEnv, variables: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(...withoutTapHooks(process.execPath, ['--input-type=module', '-e', SDK_CHILD]), { env: { PATH: process.env.PATH, HOME: be.dir, REPO_PACKAGE, ...variables } }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
  });
}

t.test('profile tokens, child tokens and the master, through real clients', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  await be.stack.createUser('work-user', 'Work-Password-1!');
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { profiles: Record<string, unknown> };
  config.profiles.work = { ...be.stack.profile, username: 'work-user' };
  writeFileSync(be.configFile, JSON.stringify(config));
  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  t.equal((await runCli(['login', '--profile', 'work', '--password-stdin'], be.env, 'Work-Password-1!\n')).code, 0);
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const base = new URL(serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).origin;
  const masterFile = JSON.parse(readFileSync(join(be.env.XDG_STATE_HOME as string, 'cognito-broker', 'daemon.json'), 'utf8')).tokenFile as string;

  await t.test('env --profile work: a token for work\'s credentials, nothing else; a real SDK uses it', async (t) => {
    const env = await runCli(['env', '--profile', 'work'], be.env);
    t.equal(env.code, 0, env.stderr);
    const vars = exportsOf(env.stdout);
    const token = vars.AWS_CONTAINER_AUTHORIZATION_TOKEN as string;
    t.not(token, readFileSync(masterFile, 'utf8'), 'not the master');
    t.equal(readFileSync(vars.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as string, 'utf8'), token, 'its token file holds the same value, no newline');
    t.equal(statSync(vars.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as string).mode & 0o777, 0o600);
    t.match(await sdkWith(be, vars), /^ASIA/, 'the JS SDK default chain gets work\'s credentials');
    t.equal(await status(`${base}/profiles/work/credentials`, token), 200);
    for (const path of ['/credentials', '/profiles/work/token', '/token', '/status']) t.equal(await status(`${base}${path}`, token), 403, `${path}: 403`);
    const again = await runCli(['env', '--profile', 'work'], be.env);
    t.equal(exportsOf(again.stdout).AWS_CONTAINER_AUTHORIZATION_TOKEN, token, 'the same token in every shell');

    const withId = exportsOf((await runCli(['env', '--profile', 'work', '--with-id-token'], be.env)).stdout);
    t.not(withId.AWS_CONTAINER_AUTHORIZATION_TOKEN, token);
    t.equal(await status(`${base}/profiles/work/token`, withId.AWS_CONTAINER_AUTHORIZATION_TOKEN as string), 200, '--with-id-token: /token too');
    t.equal(await status(`${base}/token`, withId.AWS_CONTAINER_AUTHORIZATION_TOKEN as string), 403);
  });

  await t.test('exec: the child\'s token opens its profile while it runs, and nothing once it ended', async (t) => {
    const exec = await runCli(['exec', '--profile', 'work', '--', process.execPath, '-e', `
      const get = (url) => fetch(url, { headers: { authorization: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN } }).then((r) => r.status);
      const base = new URL(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI).origin;
      Promise.all([get(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI), get(base + '/credentials'), get(base + '/profiles/work/token')])
        .then((s) => console.log(JSON.stringify({ statuses: s, token: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, uri: process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI })));`], be.env);
    t.equal(exec.code, 0, exec.stderr);
    const child = JSON.parse(exec.stdout) as { statuses: number[]; token: string; uri: string };
    t.same(child.statuses, [200, 403, 403], 'its own credentials; not another profile; not the ID token');
    t.equal(new URL(child.uri).origin, base, 'through the running daemon');
    t.equal(await status(child.uri, child.token), 401, 'after the child ended its token opens nothing');
  });

  await t.test('rotate-token: every derived token stops working, token files are rewritten, the daemon takes it up', async (t) => {
    const before = exportsOf((await runCli(['env'], be.env)).stdout);
    const oldMaster = readFileSync(masterFile, 'utf8');
    const rotate = await runCli(['rotate-token'], be.env);
    t.equal(rotate.code, 0, rotate.stderr);
    t.match(rotate.stderr, /took the new token up/);
    t.not(readFileSync(masterFile, 'utf8'), oldMaster);
    t.equal(await status(`${base}/credentials`, before.AWS_CONTAINER_AUTHORIZATION_TOKEN as string), 401, 'the old profile token');
    t.equal(await status(`${base}/status`, oldMaster), 401, 'the old master');
    const fileToken = readFileSync(before.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as string, 'utf8');
    t.not(fileToken, before.AWS_CONTAINER_AUTHORIZATION_TOKEN, 'the token file was rewritten');
    t.equal(await status(`${base}/credentials`, fileToken), 200, 'SDKs that read the file carry on');
    const after = exportsOf((await runCli(['env'], be.env)).stdout);
    t.equal(after.AWS_CONTAINER_AUTHORIZATION_TOKEN, fileToken, 'env gives the new one');
  });

  await t.test('a master token file others can read is replaced, not just tightened', async (t) => {
    const exposed = readFileSync(masterFile, 'utf8');
    chmodSync(masterFile, 0o644);
    await waitFor('the daemon writes a new token', async () => readFileSync(masterFile, 'utf8') !== exposed, Boolean, STEP);
    t.equal(statSync(masterFile).mode & 0o777, 0o600);
    await waitFor('the exposed token is refused', async () => (await status(`${base}/status`, exposed)) === 401, Boolean, STEP);
    t.equal(await status(`${base}/status`, readFileSync(masterFile, 'utf8')), 200);
    t.match(serve.stderr(), /readable by other users: it holds a new token now/);
  });
});

t.test('serve prints the token value on a terminal only; /healthz says only that it is up', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const piped = await startServe([], be.env);
  t.notMatch(piped.stdout(), /^export AWS_CONTAINER_AUTHORIZATION_TOKEN=/m, 'not on a pipe (a log or the journal would keep it)');
  t.match(piped.stdout(), /^export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/m, 'the file is named');
  const health = await fetch(new URL('/healthz', piped.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string));
  t.same(await health.json(), { status: 'ok' });
  await piped.stop();

  const term = startTerminal([process.execPath, MAIN, 'serve'], { ...be.env, NODE_NO_WARNINGS: '1' });
  const line = await term.waitFor(/export AWS_CONTAINER_AUTHORIZATION_TOKEN=([0-9a-f]{64})/);
  const file = (await term.waitFor(/export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=(\S+)/))[1] as string;
  t.equal(line[1], readFileSync(file, 'utf8'), 'on a terminal: the value, the same as the file');
  term.type('\x03');
  await term.exit();
});
