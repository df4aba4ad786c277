/**
 * Containers, for real but without Docker: a network namespace on a Linux bridge (what
 * Docker's bridge network is), the compiled CLI's serve with server.containers, and inside
 * the namespace the real JS SDK, boto3 and the AWS CLI through FULL_URI on 169.254.170.2, and
 * RELATIVE_URI clients (boto3, Debian's AWS CLI 2.9, Ruby's aws-sdk-core 3.168) through port
 * 80, each making a signed STS call. `docker run` runs through a fake docker whose
 * "container" is that namespace.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { CONTAINER_ADDRESS, createContainerNet, requireContainerNet } from '../support/container-net.js';
import { fakeDocker } from '../support/fake-docker.js';

const DEBIAN_AWS_CLI = '/usr/bin/aws';
const RUBY = '/usr/bin/ruby';

/** The variables of an env file (docker env's output). */
function envFileVars(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]));
}

/** Forwards addr:port (reachable from the namespace) to 127.0.0.1:target: the STS stub listens on the host's loopback. */
async function forward(host: string, target: number): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  server.listen(0, host);
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

const JS_CLIENT = `
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
const provider = fromNodeProviderChain();
const credentials = await provider();
const sts = new STSClient({ region: process.env.REGION, endpoint: process.env.STS_URL, credentials: provider, maxAttempts: 1 });
const { Arn } = await sts.send(new GetCallerIdentityCommand({}));
console.log(JSON.stringify({ accessKeyId: credentials.accessKeyId, arn: Arn }));`;

const BOTO3_CLIENT = `
import boto3, json, os
session = boto3.Session(region_name=os.environ['REGION'])
credentials = session.get_credentials()
arn = session.client('sts', endpoint_url=os.environ['STS_URL']).get_caller_identity()['Arn']
print(json.dumps({'accessKeyId': credentials.get_frozen_credentials().access_key, 'method': credentials.method, 'arn': arn}))`;
import { REPO } from '../support/paths.js';

const RUBY_CLIENT = `
require 'aws-sdk-core'
require 'json'
credentials = Aws::ECSCredentials.new(retries: 2)
sts = Aws::STS::Client.new(region: ENV['REGION'], endpoint: ENV['STS_URL'], credentials: credentials)
puts({ accessKeyId: credentials.credentials.access_key_id, arn: sts.get_caller_identity.arn, version: Aws::CORE_GEM_VERSION }.to_json)`;

/** Raw requests from inside the namespace: each one's status (Host set by hand, as a hostile client would). */
const STATUS_CLIENT = `
const http = require('node:http');
const requests = JSON.parse(process.argv[1]);
Promise.all(requests.map((r) => new Promise((resolve) => {
  const req = http.get({ host: r.address, port: r.port, path: r.path, headers: r.headers, timeout: 3000 }, (res) => { res.resume(); resolve(res.statusCode); });
  req.on('error', (e) => resolve(e.code));
  req.on('timeout', () => req.destroy());
}))).then((s) => console.log(JSON.stringify(s)));`;

t.test('containers on a bridge get fresh credentials, each with a token of its own', async (t) => {
  if (!requireContainerNet(t) || !requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const net = createContainerNet();
  t.teardown(() => net.destroy());
  const docker = fakeDocker();
  t.teardown(() => docker.remove());

  await be.stack.createUser('work-user', 'Work-Password-1!');
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { server: Record<string, unknown>; profiles: Record<string, unknown> };
  config.server.containers = { address: CONTAINER_ADDRESS };
  config.profiles.work = { ...be.stack.profile, username: 'work-user' };
  writeFileSync(be.configFile, JSON.stringify(config));
  const env = { ...be.env, PATH: docker.path, FAKE_DOCKER_EXEC: JSON.stringify(net.prefix) };
  t.equal((await runCli(['login', '--password-stdin'], env, `${be.stack.password}\n`)).code, 0);
  t.equal((await runCli(['login', '--profile', 'work', '--password-stdin'], env, 'Work-Password-1!\n')).code, 0);
  const serve = await startServe([], env);
  t.teardown(() => serve.stop());
  const loopback = new URL(serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string);
  const port = Number(loopback.port);
  const containers = async () => (await (await fetch(`${loopback.origin}/containers`, { headers: { authorization: serve.master() } })).json()) as { listening: boolean; port: number; relativeUri: { listening: boolean } };
  const until = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 8_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`not within 8 s: ${what}`);
      await sleep(100);
    }
  };

  t.same(await containers(), { address: CONTAINER_ADDRESS, port, listening: false, relativeUri: { listening: false }, tokens: [] }, 'no address yet: not listening');
  net.addAddress();
  await until(async () => (await containers()).listening, 'the daemon binds the address once it appears');
  t.equal((await containers()).relativeUri.listening, true, 'and port 80 for RELATIVE_URI (root here)');
  t.match(serve.stderr(), /listening for containers/);

  const sts = await forward(CONTAINER_ADDRESS, Number(new URL(be.stack.stsUrl).port));
  t.teardown(() => sts.server.close());
  const clientEnv = (vars: Record<string, string>): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH, PYENV_ROOT: process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), HOME: be.dir,
    REGION: be.stack.region, AWS_DEFAULT_REGION: be.stack.region, STS_URL: `http://${CONTAINER_ADDRESS}:${sts.port}`, NODE_NO_WARNINGS: '1', ...vars,
  });
  const issued = (id: string) => be.stack.emulator.issued.has(id);

  await t.test('FULL_URI: docker env\'s token, the JS SDK, boto3 and the AWS CLI in the container', async (t) => {
    const out = await runCli(['docker', 'env', '--name', 'app'], env);
    t.equal(out.code, 0, out.stderr);
    const vars = envFileVars(out.stdout);
    t.equal(vars.AWS_CONTAINER_CREDENTIALS_FULL_URI, `http://${CONTAINER_ADDRESS}:${port}/credentials`);
    const js = await net.exec([process.execPath, '--input-type=module', '-e', JS_CLIENT], clientEnv(vars), { cwd: REPO });
    t.equal(js.code, 0, js.stderr);
    const jsReport = JSON.parse(js.stdout) as { accessKeyId: string; arn: string };
    t.ok(issued(jsReport.accessKeyId), 'JS SDK default chain: the broker\'s credentials');
    t.match(jsReport.arn, /assumed-role/, 'and its signed STS call was accepted');
    const boto = await net.exec(['python3', '-c', BOTO3_CLIENT], clientEnv(vars));
    t.equal(boto.code, 0, boto.stderr);
    t.match(JSON.parse(boto.stdout), { method: 'container-role', arn: /assumed-role/ }, 'boto3');
    const cli = await net.exec(['aws', 'sts', 'get-caller-identity', '--endpoint-url', `http://${CONTAINER_ADDRESS}:${sts.port}`, '--output', 'json'], clientEnv(vars));
    t.equal(cli.code, 0, cli.stderr);
    t.match(JSON.parse(cli.stdout), { Arn: /assumed-role/ }, 'AWS CLI v1');
  });

  await t.test('what a container can open: its own profile only; no host token; no foreign Host', async (t) => {
    const mine = envFileVars((await runCli(['docker', 'env'], env)).stdout).AWS_CONTAINER_AUTHORIZATION_TOKEN as string;
    const profileToken = readFileSync(serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as string, 'utf8');
    const host = `${CONTAINER_ADDRESS}:${port}`;
    const request = (path: string, authorization: string, hostHeader = host) => ({ address: CONTAINER_ADDRESS, port, path, headers: { authorization, host: hostHeader } });
    const cases: [string, ReturnType<typeof request>, number][] = [
      ['its own profile', request('/credentials', mine), 200],
      ['another profile', request('/profiles/work/credentials', mine), 403],
      ['the ID token (not given it)', request('/token', mine), 403],
      ['the master token', request('/credentials', serve.master()), 401],
      ['the host\'s profile token', request('/credentials', profileToken), 401],
      ['/status with the master', request('/status', serve.master()), 401],
      ['a foreign Host', request('/credentials', mine, 'evil.example'), 403],
      ['Host 127.0.0.1', request('/credentials', mine, `127.0.0.1:${port}`), 403],
    ];
    const statuses = await net.exec([process.execPath, '-e', STATUS_CLIENT, JSON.stringify(cases.map((c) => c[1]))], clientEnv({}));
    t.same(JSON.parse(statuses.stdout), cases.map((c) => c[2]), cases.map((c) => `${c[0]}: ${c[2]}`).join('; '));
    const loopbackAttempt = await fetch(loopback.href, { headers: { authorization: mine } });
    t.equal(loopbackAttempt.status, 401, 'the container token opens nothing on the host\'s loopback');
    const fromContainer = await net.exec([process.execPath, '-e', STATUS_CLIENT, JSON.stringify([{ address: '127.0.0.1', port, path: '/healthz', headers: {} }])], clientEnv({}));
    t.same(JSON.parse(fromContainer.stdout), ['ECONNREFUSED'], 'the container\'s loopback is not the host\'s');
  });

  await t.test('RELATIVE_URI on port 80: boto3, Debian\'s AWS CLI 2.9, Ruby\'s aws-sdk-core', async (t) => {
    const out = await runCli(['docker', 'env', '--relative-uri', '--profile', 'work'], env);
    t.equal(out.code, 0, out.stderr);
    const vars = envFileVars(out.stdout);
    t.match(vars.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, /^\/v2\/credentials\/[0-9a-f]{64}$/);
    t.notOk('AWS_CONTAINER_AUTHORIZATION_TOKEN' in vars, 'no header: the path is the secret');
    const boto = await net.exec(['python3', '-c', BOTO3_CLIENT], clientEnv(vars));
    t.equal(boto.code, 0, boto.stderr);
    t.match(JSON.parse(boto.stdout), { method: 'container-role', arn: /assumed-role/ }, 'boto3 through RELATIVE_URI');
    if (existsSync(DEBIAN_AWS_CLI)) {
      const v29 = await net.exec([DEBIAN_AWS_CLI, 'configure', 'export-credentials', '--format', 'process'], clientEnv(vars));
      t.equal(v29.code, 0, v29.stderr);
      t.ok(issued((JSON.parse(v29.stdout) as { AccessKeyId: string }).AccessKeyId), 'Debian\'s AWS CLI 2.9');
    } else if (process.env.CI) t.fail('Debian\'s awscli is needed in CI (.ci/run installs it)');
    if (existsSync(RUBY)) {
      const ruby = await net.exec([RUBY, '-e', RUBY_CLIENT], clientEnv(vars));
      t.equal(ruby.code, 0, ruby.stderr);
      t.match(JSON.parse(ruby.stdout), { arn: /assumed-role/, version: /^3\./ }, 'Ruby aws-sdk-core: credentials and a signed STS call');
    } else if (process.env.CI) t.fail('Debian\'s ruby-aws-sdk-core is needed in CI (.ci/run installs it)');
    else t.comment('SKIP: no ruby-aws-sdk-core here');
  });

  await t.test('docker run: the container gets a token of its own that dies when docker run returns', async (t) => {
    const { REGION, STS_URL } = clientEnv({});
    const run = await runCli(['docker', 'run', '--', '--rm', '-e', `REGION=${REGION}`, '-e', `STS_URL=${STS_URL}`, 'python:3', 'python3', '-c', BOTO3_CLIENT], { ...env, PYENV_ROOT: clientEnv({}).PYENV_ROOT });
    t.equal(run.code, 0, run.stderr);
    t.match(JSON.parse(run.stdout), { method: 'container-role', arn: /assumed-role/ }, 'boto3 in the "container" made a signed call');
    const call = docker.calls().filter((c) => c.argv[0] === 'run').at(-1);
    t.equal(call?.envFile?.mode, 0o600);
    const vars = envFileVars(call?.envFile?.content ?? '');
    t.notOk(call?.argv.some((a) => a.includes(vars.AWS_CONTAINER_AUTHORIZATION_TOKEN as string)), 'not in docker\'s argv');
    const after = await net.exec([process.execPath, '-e', STATUS_CLIENT, JSON.stringify([{ address: CONTAINER_ADDRESS, port, path: '/credentials', headers: { authorization: vars.AWS_CONTAINER_AUTHORIZATION_TOKEN, host: `${CONTAINER_ADDRESS}:${port}` } }])], clientEnv({}));
    t.same(JSON.parse(after.stdout), [401], 'refused once docker run returned');
  });

  await t.test('docker revoke ends a long-lived token at once', async (t) => {
    const out = await runCli(['docker', 'env'], env);
    const id = /container token ([0-9a-f]{16})/.exec(out.stdout)?.[1] as string;
    const token = envFileVars(out.stdout).AWS_CONTAINER_AUTHORIZATION_TOKEN as string;
    const probe = () => net.exec([process.execPath, '-e', STATUS_CLIENT, JSON.stringify([{ address: CONTAINER_ADDRESS, port, path: '/credentials', headers: { authorization: token, host: `${CONTAINER_ADDRESS}:${port}` } }])], clientEnv({}));
    t.same(JSON.parse((await probe()).stdout), [200]);
    t.equal((await runCli(['docker', 'revoke', id], env)).code, 0);
    t.same(JSON.parse((await probe()).stdout), [401]);
  });

  await t.test('the listener goes when the address goes, and comes back with it', async (t) => {
    sts.server.close();
    net.removeAddress();
    await until(async () => !(await containers()).listening, 'the daemon closes the listener');
    // The log line comes through a pipe: it can arrive after /status already says so.
    await until(async () => /the container address is gone/.test(serve.stderr()), 'the daemon says why');
    net.addAddress();
    await until(async () => (await containers()).listening, 'and binds it again');
    t.equal(serve.child.exitCode, null, 'without a restart');
  });
});
