import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { requireSecretService, startBrokerEnv, type BrokerEnv } from '../support/broker-env.js';
import { CLI_BIN as MAIN, runCli, spawnCli, startServe } from '../support/cli.js';
import { onTerminal } from '../support/pty.js';
import { repoPath } from '../support/paths.js';

const REPO_PACKAGE = repoPath('package.json');

/**
 * What a user's program run by exec sees: the AWS SDK for JavaScript's default chain
 * (fromNodeProviderChain) gets credentials and makes a signed STS call with them; the
 * program also reports its environment and its parent's argv (the exec process).
 */
const SDK_CHILD = `
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const require = createRequire(process.env.REPO_PACKAGE);
const { fromNodeProviderChain } = require('@aws-sdk/credential-providers');
const { GetCallerIdentityCommand, STSClient } = require('@aws-sdk/client-sts');
const provider = fromNodeProviderChain();
const credentials = await provider();
const sts = new STSClient({ region: process.env.REGION, endpoint: process.env.STS_URL, credentials: provider, maxAttempts: 1 });
const { Arn } = await sts.send(new GetCallerIdentityCommand({}));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('AWS_')));
const tokenFile = process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
console.log(JSON.stringify({
  accessKeyId: credentials.accessKeyId, expiration: credentials.expiration?.toISOString(), arn: Arn, env, args: process.argv.slice(1),
  tokenFileContent: tokenFile ? readFileSync(tokenFile, 'utf8') : undefined,
  parentArgv: readFileSync('/proc/' + process.ppid + '/cmdline', 'utf8').split('\\0'),
}));
`;

interface SdkChildReport {
  accessKeyId: string;
  /** When the credentials the SDK got expire. */
  expiration?: string;
  arn: string;
  env: Record<string, string>;
  args: string[];
  tokenFileContent?: string;
  parentArgv: string[];
}

/** Leftovers a user's shell may have: each would make an SDK use other credentials. */
const STALE = {
  AWS_ACCESS_KEY_ID: 'AKIASTALESTALESTALE0',
  AWS_SECRET_ACCESS_KEY: 'stale-secret',
  AWS_SESSION_TOKEN: 'stale-session',
  AWS_SECURITY_TOKEN: 'stale-session',
  AWS_PROFILE: 'no-such-profile',
  AWS_DEFAULT_PROFILE: 'no-such-profile',
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/stale',
  AWS_WEB_IDENTITY_TOKEN_FILE: '/nonexistent/token',
  AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/stale',
};
/** Set again by exec for the credentials it serves; the shell's stale value must not get through. */
const STALE_EXPIRATION = { AWS_CREDENTIAL_EXPIRATION: '2001-01-01T00:00:00Z' };

function sdkChildArgs(extra: string[] = []): string[] {
  // node's own `--` ends its options: what follows is the script's.
  return ['--', process.execPath, '--input-type=module', '-e', SDK_CHILD, '--', ...extra];
}

async function execSdkChild(be: BrokerEnv, args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = await runCli(['exec', ...args], { ...be.env, ...env, REPO_PACKAGE, REGION: be.stack.region, STS_URL: be.stack.stsUrl });
  const report = result.code === 0 ? (JSON.parse(result.stdout) as SdkChildReport) : undefined;
  return { ...result, report };
}

/** Two profiles on the same pools, signed in as two users: their credentials tell them apart. */
async function twoProfileEnv(t: Test): Promise<BrokerEnv> {
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  await be.stack.createUser('work-user', 'Work-Password-1!');
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { profiles: Record<string, unknown> };
  config.profiles.work = { ...be.stack.profile, username: 'work-user' };
  writeFileSync(be.configFile, JSON.stringify(config));
  const first = await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`);
  t.equal(first.code, 0, `login default: ${first.stderr}`);
  const second = await runCli(['login', '--profile', 'work', '--password-stdin'], be.env, 'Work-Password-1!\n');
  t.equal(second.code, 0, `login work: ${second.stderr}`);
  return be;
}

/** The command's stderr only when it failed (the SDK warns on stderr about both token variables). */
function exited0(result: { code: number | null; stderr: string }): string {
  return result.code === 0 ? 'exit 0' : result.stderr;
}

function identityOf(be: BrokerEnv, accessKeyId: string): string | undefined {
  return be.stack.emulator.issued.get(accessKeyId)?.identityId;
}

t.test('exec with two profiles, without and with a running daemon: a real SDK child gets the right credentials', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await twoProfileEnv(t);
  const stateDir = join(be.dir, 'state', 'cognito-broker');

  // No daemon: exec serves in-process, with a token of its own.
  const alone = await execSdkChild(be, sdkChildArgs(['--an-arg', 'two words']), { ...STALE, ...STALE_EXPIRATION });
  t.equal(alone.code, 0, exited0(alone));
  const a = alone.report as SdkChildReport;
  t.ok(be.stack.emulator.issued.has(a.accessKeyId), 'the child got credentials the identity pool issued');
  t.match(a.arn, /assumed-role/, 'and its signed STS call was accepted');
  t.same(a.args, ['--an-arg', 'two words'], 'arguments reach the command unchanged (no shell)');
  t.match(a.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, /^http:\/\/127\.0\.0\.1:\d+\/credentials$/);
  t.match(a.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, /^[0-9a-f]{64}$/);
  t.equal(a.tokenFileContent, a.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, 'the token file holds the same token, no newline');
  t.equal(join(a.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ?? '', '..'), stateDir, 'in the state directory');
  for (const name of Object.keys(STALE)) t.notOk(name in a.env, `${name} removed`);
  t.match(a.env.AWS_CREDENTIAL_EXPIRATION, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'AWS_CREDENTIAL_EXPIRATION: ISO 8601');
  t.equal(a.env.AWS_CREDENTIAL_EXPIRATION, a.expiration, 'the expiration of the credentials the SDK got, not the stale one of the shell');
  t.notOk(a.parentArgv.some((arg) => arg.includes(a.env.AWS_CONTAINER_AUTHORIZATION_TOKEN as string)), 'the token is not in exec\'s argv');
  t.notOk(existsSync(a.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as string), 'its token file is gone once the command ended');
  t.same(readdirSync(stateDir).filter((f) => f.startsWith('exec-')), [], 'no exec token file left');

  const aloneWork = await execSdkChild(be, ['--profile', 'work', ...sdkChildArgs()]);
  t.equal(aloneWork.code, 0, exited0(aloneWork));
  const aw = aloneWork.report as SdkChildReport;
  t.not(identityOf(be, aw.accessKeyId), identityOf(be, a.accessKeyId), '--profile work: the other user\'s identity');

  // With the daemon: exec points the command at it, at the profile's own route.
  // Counted before serve starts: its first refresh may end before it prints the exports
  // (it starts before the HTTP app loads).
  const issuedBefore = be.stack.emulator.issued.size;
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const daemonUri = serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string;

  const viaDaemon = await execSdkChild(be, sdkChildArgs(), { ...STALE, ...STALE_EXPIRATION });
  t.equal(viaDaemon.code, 0, exited0(viaDaemon));
  const d = viaDaemon.report as SdkChildReport;
  t.equal(d.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, daemonUri, 'the daemon\'s endpoint');
  t.match(d.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, /^[0-9a-f]{64}$/);
  t.not(d.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN, 'a token of its own, not the shell\'s');
  t.not(d.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, serve.master(), 'never the master');
  t.equal(d.tokenFileContent, d.env.AWS_CONTAINER_AUTHORIZATION_TOKEN, 'its own token file, holding the same value');
  for (const name of Object.keys(STALE)) t.notOk(name in d.env, `${name} removed`);
  t.equal(d.env.AWS_CREDENTIAL_EXPIRATION, d.expiration, 'through the daemon too, AWS_CREDENTIAL_EXPIRATION is the served credentials\' expiration');

  // The AWS CLI (botocore) as the command: AWS_PROFILE naming a profile that does not exist
  // would stop it (ProfileNotFound) and static keys would win, had exec not removed them.
  const cli = await runCli(['exec', '--', 'aws', 'sts', 'get-caller-identity', '--endpoint-url', be.stack.stsUrl, '--output', 'json'], {
    ...be.env, ...STALE, HOME: be.dir, PYENV_ROOT: process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), AWS_DEFAULT_REGION: be.stack.region,
  });
  t.equal(cli.code, 0, exited0(cli));
  t.match(JSON.parse(cli.stdout || '{}'), { Arn: /assumed-role/ }, 'AWS CLI v1 run by exec: a signed call with the daemon\'s credentials');
  t.ok(be.stack.sts.acceptedAccessKeyIds().includes(d.accessKeyId), 'with the key the daemon serves');

  const workViaDaemon = await execSdkChild(be, ['--profile', 'work', ...sdkChildArgs()]);
  t.equal(workViaDaemon.code, 0, exited0(workViaDaemon));
  const dw = workViaDaemon.report as SdkChildReport;
  t.equal(dw.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, daemonUri.replace(/\/credentials$/, '/profiles/work/credentials'), '--profile work: its route on the same daemon');
  t.equal(identityOf(be, dw.accessKeyId), identityOf(be, aw.accessKeyId), 'the work user\'s identity');
  t.not(identityOf(be, d.accessKeyId), identityOf(be, dw.accessKeyId));

  const daemonCredentials = await Promise.all(['/credentials', '/profiles/work/credentials'].map(async (route) => {
    const res = await fetch(daemonUri.replace(/\/credentials$/, route), { headers: { authorization: serve.master() } });
    return ((await res.json()) as { AccessKeyId: string }).AccessKeyId;
  }));
  t.same([d.accessKeyId, dw.accessKeyId], daemonCredentials, 'the children used exactly what the daemon serves');
  t.equal(be.stack.emulator.issued.size, issuedBefore + 2, 'no Cognito call of exec\'s own: only the daemon\'s first two');

  // env --profile points at the same routes.
  const envWork = await runCli(['env', '--profile', 'work'], be.env);
  t.equal(envWork.code, 0, exited0(envWork));
  t.match(envWork.stdout, new RegExp(`^export AWS_CONTAINER_CREDENTIALS_FULL_URI=${dw.env.AWS_CONTAINER_CREDENTIALS_FULL_URI}$`, 'm'));
  const envDefault = await runCli(['env'], be.env);
  t.match(envDefault.stdout, new RegExp(`^export AWS_CONTAINER_CREDENTIALS_FULL_URI=${daemonUri}$`, 'm'));
  const envNone = await runCli(['env', '--profile', 'nobody'], be.env);
  t.match(envNone, { code: 1, stderr: /No profile named "nobody".*BRK_ERR_UNKNOWN_PROFILE/ });

  // A profile the config gained after the daemon started: env says so, exec serves it itself.
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { profiles: Record<string, unknown> };
  config.profiles.late = { ...be.stack.profile };
  writeFileSync(be.configFile, JSON.stringify(config));
  const envLate = await runCli(['env', '--profile', 'late'], be.env);
  t.match(envLate, { code: 1, stderr: /does not serve profile "late".*BRK_ERR_DAEMON_MISMATCH/ });
  const execLate = await runCli(['exec', '--profile', 'late', '--', 'true'], be.env);
  t.match(execLate, { code: 1, stderr: /Profile "late" is not signed in.*BRK_ERR_NOT_SIGNED_IN/ }, 'served in-process: not signed in, said before running anything');

  // Another config file, same state directory: the daemon is not ours.
  const otherConfig = join(be.dir, 'other-config.json');
  writeFileSync(otherConfig, readFileSync(be.configFile));
  const envOther = await runCli(['env', '--config', otherConfig], be.env);
  t.match(envOther, { code: 1, stderr: /serves the config .*config\.json, not .*other-config\.json.*BRK_ERR_DAEMON_MISMATCH/ });
  const execOther = await execSdkChild(be, ['--config', otherConfig, ...sdkChildArgs()]);
  t.equal(execOther.code, 0, exited0(execOther));
  t.not(execOther.report?.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, daemonUri, 'exec served it in-process instead');
  t.equal(await serve.stop(), 0);
});

/** A child that says it is ready, counts the signals it gets, and ends as told. */
const SIGNAL_CHILD = `
const counts = {};
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  if (process.env.HANDLE?.includes(s)) process.on(s, () => {
    counts[s] = (counts[s] ?? 0) + 1;
    setTimeout(() => { console.log('COUNTS=' + JSON.stringify(counts)); process.exit(Number(process.env.EXIT_WITH)); }, Number(process.env.REPORT_AFTER_MS ?? 300)).unref();
  });
}
console.log('READY');
setInterval(() => {}, 1000);
`;

async function startSignalChild(be: BrokerEnv, env: Record<string, string>) {
  const child = spawnCli(['exec', '--', process.execPath, '-e', SIGNAL_CHILD], { ...be.env, ...env });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stdout += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!stdout.includes('READY')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the child did not start: ${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    child,
    output: () => stdout,
    async exit(): Promise<number | null> {
      if (child.exitCode !== null) return child.exitCode;
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

t.test('exec passes signals and exit codes through', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  // The daemon first, as a service starts: it sees no session until the login.
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  const rightAfterLogin = await runCli(['exec', '--', 'true'], be.env);
  t.equal(rightAfterLogin.code, 0, `exec right after login waits for the daemon to pick the sign-in up: ${rightAfterLogin.stderr}`);

  t.equal((await runCli(['exec', '--', process.execPath, '-e', 'process.exit(3)'], be.env)).code, 3, 'the command\'s exit code');
  t.equal((await runCli(['exec', '--', 'true'], be.env)).code, 0);
  const missing = await runCli(['exec', '--', 'no-such-command-here'], be.env);
  t.match(missing, { code: 127, stderr: /no-such-command-here: command not found/ });
  const help = await runCli(['exec', '--', process.execPath, '-e', 'console.log(process.argv.slice(1).join(","))', '--', '--help', '-h'], be.env);
  t.match(help, { code: 0, stdout: '--help,-h\n' }, '--help after -- belongs to the command');
  t.match(await runCli(['exec', 'true'], be.env), { code: 2, stderr: /needs a command after --/ });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const handled = await startSignalChild(be, { HANDLE: signal, EXIT_WITH: '42' });
    handled.child.kill(signal);
    t.equal(await handled.exit(), 42, `${signal} reaches the command, whose exit code comes back`);
    t.match(handled.output(), `COUNTS={"${signal}":1}`, `${signal} delivered once`);
  }
  const numbers = { SIGTERM: 15, SIGHUP: 1, SIGINT: 2 };
  for (const [signal, number] of Object.entries(numbers)) {
    const killed = await startSignalChild(be, { HANDLE: '', EXIT_WITH: '0' });
    killed.child.kill(signal as NodeJS.Signals);
    t.equal(await killed.exit(), 128 + number, `a command ended by ${signal}: exit 128+${number}`);
  }
});

t.test('Ctrl-C at a terminal reaches the command once, not twice', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  // No daemon: the in-process server runs in the exec process all along.
  const result = await onTerminal(
    [process.execPath, MAIN, 'exec', '--', process.execPath, '-e', SIGNAL_CHILD],
    // Time for a second SIGINT to arrive, were exec to pass the terminal's on.
    { ...be.env, HANDLE: 'SIGINT', EXIT_WITH: '5', REPORT_AFTER_MS: '1500', NODE_NO_WARNINGS: '1' },
    [[/READY/, '\x03']],
  );
  t.match(result.output, /COUNTS=\{"SIGINT":1\}/, result.output);
  t.equal(result.exit, 5);
});

t.test('a fixed port that is taken: serve fails clearly, exec still runs', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { server: Record<string, unknown> };
  config.server.port = port;
  writeFileSync(be.configFile, JSON.stringify(config));

  const serve = await runCli(['serve'], be.env);
  t.equal(serve.code, 1, 'exit 1');
  t.match(serve.stderr, new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use.*server\\.port.*\\[BRK_ERR_PORT_IN_USE\\]`));
  t.notMatch(serve.stderr, /at .*\.js:\d+/, 'no stack trace');
  t.equal(serve.stdout, '', 'no export lines');
  t.notOk(existsSync(join(be.dir, 'state', 'cognito-broker', 'daemon.json')), 'no daemon.json');
  const exec = await runCli(['exec', '--', process.execPath, '-e', 'console.log(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI)'], be.env);
  t.equal(exec.code, 0, exited0(exec));
  t.notMatch(exec.stdout, `:${port}/`, 'exec serves in-process on a free port, not the configured one');

  // A second serve on the fixed port of a running one.
  blocker.close();
  await once(blocker, 'close');
  const first = await startServe([], be.env);
  t.teardown(() => first.stop());
  const second = await runCli(['serve'], be.env);
  t.match(second, { code: 1, stderr: /BRK_ERR_PORT_IN_USE/ });
  t.equal((await runCli(['env'], be.env)).code, 0, 'the first one is still found');
});
