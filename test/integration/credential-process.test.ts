import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CognitoIdentityProviderClient, RevokeTokenCommand } from '@aws-sdk/client-cognito-identity-provider';
import t from 'tap';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE, type BrokerEnv } from '../support/broker-env.js';
import { CLI_BIN as MAIN, runCli, startServe } from '../support/cli.js';
import { onTerminal } from '../support/pty.js';
import { startKeychainWorker } from '../support/secret-service.js';
import { REPO } from '../support/paths.js';

const run = promisify(execFile);

interface ProcessCredentials {
  Version: number;
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
  Expiration: string;
}

/**
 * An ~/.aws/config of its own (AWS_CONFIG_FILE) whose profiles get their credentials from
 * `cognito-broker credential-process`, as docs/commands.md shows, and the environment the AWS CLI,
 * boto3 and the JS SDK run in: nothing but that config points them at credentials.
 */
function awsConfigEnv(be: BrokerEnv): NodeJS.ProcessEnv {
  const file = join(be.dir, 'aws-config');
  const command = `${process.execPath} ${MAIN} credential-process`;
  writeFileSync(file, [
    '[default]',
    `region = ${be.stack.region}`,
    `credential_process = ${command}`,
    '[profile work]',
    `region = ${be.stack.region}`,
    `credential_process = ${command} --profile work`,
    '',
  ].join('\n'));
  return {
    ...be.env,
    HOME: be.dir,
    PYENV_ROOT: process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'),
    AWS_CONFIG_FILE: file,
    AWS_SHARED_CREDENTIALS_FILE: join(be.dir, 'no-credentials-file'),
    AWS_EC2_METADATA_DISABLED: 'true',
    NODE_NO_WARNINGS: '1',
  };
}

const BOTO3 = `
import boto3, json, os, sys
session = boto3.Session(profile_name=sys.argv[1])
credentials = session.get_credentials()
frozen = credentials.get_frozen_credentials()
arn = session.client('sts', endpoint_url=os.environ['STS_URL']).get_caller_identity()['Arn']
print(json.dumps({'accessKeyId': frozen.access_key, 'method': credentials.method, 'arn': arn}))
`;

const JS_SDK = `
import { createRequire } from 'node:module';
const require = createRequire(process.env.REPO + '/package.json');
const { fromNodeProviderChain } = require('@aws-sdk/credential-providers');
const credentials = await fromNodeProviderChain()();
console.log(JSON.stringify({ accessKeyId: credentials.accessKeyId, expiration: credentials.expiration.toISOString() }));
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function timedRuns(be: BrokerEnv, n: number): Promise<{ ms: number[]; last: ProcessCredentials }> {
  const ms: number[] = [];
  let last: ProcessCredentials | undefined;
  for (let i = 0; i < n; i += 1) {
    const started = performance.now();
    const { stdout } = await run(process.execPath, [MAIN, 'credential-process'], { env: { ...be.env, NODE_NO_WARNINGS: '1' } });
    ms.push(performance.now() - started);
    last = JSON.parse(stdout) as ProcessCredentials;
  }
  return { ms, last: last as ProcessCredentials };
}

t.test('credential-process for the AWS CLI, boto3 and the JS SDK, without and with the daemon', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  await be.stack.createUser('work-user', 'Work-Password-1!');
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { profiles: Record<string, unknown> };
  config.profiles.work = { ...be.stack.profile, username: 'work-user' };
  writeFileSync(be.configFile, JSON.stringify(config));

  const notSignedIn = await runCli(['credential-process'], be.env);
  t.match(notSignedIn, { code: 1, stdout: '', stderr: /Profile "default" is not signed in\. Run: cognito-broker login.*BRK_ERR_NOT_SIGNED_IN/ }, 'not signed in: exit 1, the reason on stderr, nothing on stdout');

  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  t.equal((await runCli(['login', '--profile', 'work', '--password-stdin'], be.env, 'Work-Password-1!\n')).code, 0);
  const awsEnv = awsConfigEnv(be);
  const issued = be.stack.emulator.issued;

  // Without a daemon: from the keychain and Cognito.
  const direct = await runCli(['credential-process'], be.env);
  t.equal(direct.code, 0, direct.stderr);
  const printed = JSON.parse(direct.stdout) as ProcessCredentials;
  t.same(Object.keys(printed), ['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'], 'exactly the credential_process fields');
  t.equal(printed.Version, 1);
  t.equal(issued.get(printed.AccessKeyId)?.secretKey, printed.SecretAccessKey, 'issued by the identity pool');
  t.equal(issued.get(printed.AccessKeyId)?.sessionToken, printed.SessionToken);
  t.match(printed.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.ok(Date.parse(printed.Expiration) - Date.now() > 15 * 60_000, 'more than 15 minutes left');

  const cliArn = JSON.parse((await run('aws', ['sts', 'get-caller-identity', '--endpoint-url', be.stack.stsUrl, '--output', 'json'], { env: awsEnv })).stdout) as { Arn: string };
  t.match(cliArn.Arn, /assumed-role/, 'AWS CLI v1: a signed call with credential_process credentials');
  const configureList = (await run('aws', ['configure', 'list'], { env: awsEnv })).stdout;
  t.match(configureList, /access_key\s+\*+\S{4}\s+custom-process/, 'aws configure list: custom-process');

  const boto = JSON.parse((await run('python3', ['-c', BOTO3, 'work'], { env: { ...awsEnv, STS_URL: be.stack.stsUrl } })).stdout) as { accessKeyId: string; method: string; arn: string };
  t.equal(boto.method, 'custom-process', 'boto3 used credential_process');
  t.match(boto.arn, /assumed-role/);
  t.not(issued.get(boto.accessKeyId)?.identityId, issued.get(printed.AccessKeyId)?.identityId, 'profile work: the work user\'s identity');

  const js = JSON.parse((await run(process.execPath, ['--input-type=module', '-e', JS_SDK], { env: { ...awsEnv, REPO } })).stdout) as { accessKeyId: string; expiration: string };
  t.ok(issued.has(js.accessKeyId), 'JS SDK default chain (fromProcess through the shared config)');

  const without = await timedRuns(be, 5);
  t.ok(issued.has(without.last.AccessKeyId));

  // With the daemon: what it serves, and no Cognito call of its own.
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const [served] = await Promise.all(['/credentials', '/profiles/work/credentials'].map(async (route) => {
    const url = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, route);
    return (await (await fetch(url, { headers: { authorization: serve.master() } })).json()) as { AccessKeyId: string };
  }));
  const callsBefore = be.stack.emulator.calls.GetCredentialsForIdentity;
  const withDaemon = await timedRuns(be, 5);
  t.equal(withDaemon.last.AccessKeyId, served?.AccessKeyId, 'the daemon\'s credentials');
  const botoViaDaemon = JSON.parse((await run('python3', ['-c', BOTO3, 'default'], { env: { ...awsEnv, STS_URL: be.stack.stsUrl } })).stdout) as { accessKeyId: string; method: string };
  t.same([botoViaDaemon.accessKeyId, botoViaDaemon.method], [served?.AccessKeyId, 'custom-process'], 'boto3 through the daemon');
  const work = await runCli(['credential-process', '--profile', 'work'], be.env);
  t.equal(issued.get((JSON.parse(work.stdout) as ProcessCredentials).AccessKeyId)?.identityId, issued.get(boto.accessKeyId)?.identityId, '--profile work from the daemon');
  t.equal(be.stack.emulator.calls.GetCredentialsForIdentity, callsBefore, 'no Cognito call: each answer came from the daemon');

  t.comment(`credential-process wall time, spawn to exit (median of 5): without the daemon ${median(without.ms).toFixed(0)} ms [${without.ms.map((m) => m.toFixed(0)).join(', ')}], with it ${median(withDaemon.ms).toFixed(0)} ms [${withDaemon.ms.map((m) => m.toFixed(0)).join(', ')}]`);
  t.ok(median(withDaemon.ms) < median(without.ms), 'faster with the daemon');
  t.equal(await serve.stop(), 0);
});

t.test('credential-process never prompts, even at a terminal: not signed in, or signed out by the pool, it names login and exits 1 at once', async (t) => {
  if (!requireSecretService(t)) return;
  // ID tokens that expire within the test, so that the run after the revocation must refresh.
  const lifetimeS = 3;
  const be = await startBrokerEnv({ idTokenLifetimeSeconds: lifetimeS });
  t.teardown(() => be.stop());
  const env = { ...be.env, NODE_NO_WARNINGS: '1' };
  // No steps: nothing is typed, so a prompt would wait until the driver's timeout.
  const notSignedIn = await onTerminal([process.execPath, MAIN, 'credential-process'], env, [], 20);
  t.equal(notSignedIn.exit, 1, notSignedIn.output);
  t.match(notSignedIn.output, /Profile "default" is not signed in\. Run: cognito-broker login.*BRK_ERR_NOT_SIGNED_IN/);
  t.notMatch(notSignedIn.output, /Password:|Username:|Address the browser/, 'no question asked');
  const help = await runCli(['credential-process', '--help'], be.env);
  t.match(help.stdout, /never\s+asks anything, even at a terminal/, 'its help says so');

  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const { refreshToken } = JSON.parse((await keychain.get('profile:default')) as string) as { refreshToken: string };
  await keychain.stop();
  const admin = new CognitoIdentityProviderClient({ region: be.stack.region, endpoint: be.stack.cognitoIdpUrl, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  t.teardown(() => admin.destroy());
  await admin.send(new RevokeTokenCommand({ Token: refreshToken, ClientId: be.stack.clientId }));
  await new Promise((resolve) => setTimeout(resolve, (lifetimeS + 1) * 1000));

  const started = Date.now();
  const revoked = await onTerminal([process.execPath, MAIN, 'credential-process'], env, [], 20);
  t.equal(revoked.exit, 1, revoked.output);
  t.match(revoked.output, /Profile "default" must sign in again \(.*\)\. Run: cognito-broker login.*BRK_ERR_LOGIN_REQUIRED/s);
  t.notMatch(revoked.output, /Password:|Username:|Address the browser/, 'no question asked');
  t.notMatch(revoked.output, /AccessKeyId/, 'no credentials');
  t.ok(Date.now() - started < 15_000, 'at once, not after a prompt timed out');
});
