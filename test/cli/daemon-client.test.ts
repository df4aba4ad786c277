import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { childEnvironment, REMOVED_VARIABLES } from '../../src/cli/exec.js';
import { type DaemonConnection, findDaemon, findDaemonOfConfigFile } from '../../src/cli/daemon-client.js';
import { daemonProof, deriveProfileToken } from '../../src/server/endpoint-auth.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/config.js';
import { DaemonReportedError } from '../../src/errors.js';

const PROFILE = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
};
const TOKEN = 'a'.repeat(64);
const CREDENTIALS = { AccessKeyId: 'ASIAEXAMPLE', SecretAccessKey: 'secret', Token: 'session', Expiration: '2030-01-01T00:00:00.000Z' };

/** A config and state directory of its own, and a daemon.json written as serve writes it. */
async function setup(t: Test): Promise<{ config: Config; writeInfo: (info: Record<string, unknown>) => void; stateDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cb-daemon-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ profiles: { default: PROFILE, work: PROFILE } }));
  const stateDir = join(dir, 'state', 'cognito-broker');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const saved = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = join(dir, 'state');
  t.teardown(() => {
    if (saved === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = saved;
  });
  const config = await loadConfig({ flag: configFile });
  writeFileSync(config.server.tokenFile, TOKEN, { mode: 0o600 });
  // The config is older than the daemon, as when serve loaded it.
  utimesSync(configFile, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  return {
    config,
    stateDir,
    writeInfo: (info) => writeFileSync(join(stateDir, 'daemon.json'), JSON.stringify({
      pid: process.pid, url: 'http://127.0.0.1:9', tokenFile: config.server.tokenFile, config: config.file,
      defaultProfile: 'default', profiles: ['default', 'work'], startedAt: new Date().toISOString(), ...info,
    })),
  };
}

/**
 * A listener on 127.0.0.1 that answers GET /proof as the daemon does when `knowsToken`, and
 * the scripted answers otherwise; it records every request's headers and connection.
 */
async function fakeDaemon(t: Test, knowsToken = true) {
  const answers: [number, unknown][] = [];
  const seen: { url: string; authorization: string | undefined; socket: unknown }[] = [];
  let connections = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    seen.push({ url: request.url ?? '', authorization: request.headers.authorization, socket: request.socket });
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname === '/proof') {
      const proof = knowsToken ? daemonProof(TOKEN, url.searchParams.get('nonce') ?? '') : 'f'.repeat(64);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ proof }));
      return;
    }
    const [status, body] = answers.shift() ?? [500, {}];
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { server, url, answers, seen, connections: () => connections };
}

t.test('findDaemon: only a daemon of this config, token file and profile that proves it is ours', async (t) => {
  const { config, writeInfo } = await setup(t);
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'no daemon.json');
  writeInfo({});
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'nothing listens at its URL');

  const daemon = await fakeDaemon(t);
  writeInfo({ url: daemon.url });
  const found = await findDaemon(config, { profile: 'work' });
  t.ok(found.daemon, 'alive, same config, proves it: found');
  t.equal(found.daemon?.route('work', 'credentials'), `${daemon.url}/profiles/work/credentials`);
  t.equal(found.daemon?.route('default', 'token'), `${daemon.url}/token`);
  t.equal(found.daemon?.profileToken('work', false), deriveProfileToken(TOKEN, 'work', false), 'derives profile tokens from the master');
  found.daemon?.close();
  t.same(daemon.seen.map((r) => r.authorization), [undefined], 'the proof was asked without any token');

  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  writeInfo({ url: daemon.url, pid: dead });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'a dead pid');
  writeInfo({ url: daemon.url, config: '/elsewhere/config.json' });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_MISMATCH', message: /serves the config \/elsewhere\/config\.json/ } });
  writeInfo({ url: daemon.url, tokenFile: '/elsewhere/token' });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_MISMATCH', message: /token file is \/elsewhere\/token/ } });
  writeInfo({ url: daemon.url, profiles: ['default'] });
  t.match(await findDaemon(config, { profile: 'work' }), { problem: { code: 'BRK_ERR_DAEMON_MISMATCH', message: /does not serve profile "work"/ } });
  writeInfo({ url: daemon.url, config: undefined });
  const old = await findDaemon(config);
  t.ok(old.daemon, 'a daemon.json from before the config field: the token file decides');
  old.daemon?.close();
  writeInfo({ pid: 'x' });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'a malformed file');
});

t.test('a listener that cannot prove it knows the token gets no token, and is named untrusted', async (t) => {
  const { config, writeInfo } = await setup(t);
  const impostor = await fakeDaemon(t, false);
  writeInfo({ url: impostor.url });
  const found = await findDaemon(config);
  t.match(found, { problem: { code: 'BRK_ERR_DAEMON_UNTRUSTED', message: /could not prove[^]*No token was sent to it[^]*rotate-token/ } });
  t.same(impostor.seen.map((r) => [r.url.split('?')[0], r.authorization]), [['/proof', undefined]], 'only the challenge, without a token');
  t.notMatch(JSON.stringify(impostor.seen.map((r) => r.url)), TOKEN);
});

t.test('findDaemonOfConfigFile: the fast path needs the same file, unchanged since the daemon started', async (t) => {
  const { config, writeInfo } = await setup(t);
  const daemon = await fakeDaemon(t);
  writeInfo({ url: daemon.url });
  const found = await findDaemonOfConfigFile({ config: config.file });
  t.match(found, { profile: 'default' });
  t.ok(found?.lookup.daemon, 'verified');
  found?.lookup.daemon?.close();
  const work = await findDaemonOfConfigFile({ config: config.file, profile: 'work' });
  t.match(work, { profile: 'work' });
  work?.lookup.daemon?.close();
  t.equal(await findDaemonOfConfigFile({ config: config.file, profile: 'nobody' }), undefined, 'a profile it does not serve: the slow path decides');
  t.equal(await findDaemonOfConfigFile({ config: join(config.file, '..', 'other.json') }), undefined, 'another config file: the slow path decides');
  writeInfo({ url: daemon.url, config: undefined });
  t.equal(await findDaemonOfConfigFile({ config: config.file }), undefined, 'no config in daemon.json: the slow path decides');
  writeInfo({ url: daemon.url, startedAt: new Date(Date.now() - 120_000).toISOString() });
  t.equal(await findDaemonOfConfigFile({ config: config.file }), undefined, 'the config changed after the daemon started');
  writeInfo({ url: daemon.url, startedAt: undefined });
  t.equal(await findDaemonOfConfigFile({ config: config.file }), undefined, 'no startedAt: taken as changed');
});

t.test('credentials: one call on the proved connection; waits for a fresh sign-in; otherwise the daemon\'s error', async (t) => {
  const { config, writeInfo } = await setup(t);
  const daemon = await fakeDaemon(t);
  writeInfo({ url: daemon.url });
  const found = await findDaemon(config);
  const connection = found.daemon as DaemonConnection;
  t.teardown(() => connection.close());
  const never = async () => false;
  const always = async () => true;

  daemon.answers.push([200, CREDENTIALS]);
  t.same(await connection.credentials('default', never), { value: CREDENTIALS });
  t.equal(daemon.seen.at(-1)?.authorization, TOKEN, 'the master token, once the listener proved itself');

  daemon.answers.push([401, { Code: 'BRK_ERR_UNAUTHORIZED', Message: 'no' }]);
  t.match(await connection.credentials('default', never), { unusable: /refused the token/ }, '401: the token changed under us');

  daemon.answers.push([503, { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: 'Profile "default" is not signed in. Run: cognito-broker login' }]);
  const error = await connection.credentials('default', never).catch((e: unknown) => e);
  t.ok(error instanceof DaemonReportedError);
  t.match(error, { code: 'BRK_ERR_NOT_SIGNED_IN', message: /Run: cognito-broker login/ }, 'nothing in the keychain: the daemon\'s error at once');

  const before = daemon.seen.length;
  daemon.answers.push([503, { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: 'not yet' }], [503, { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: 'not yet' }], [200, CREDENTIALS]);
  t.same(await connection.credentials('default', always), { value: CREDENTIALS }, 'a sign-in in the keychain: asked again until the daemon has it');
  t.equal(daemon.seen.length - before, 3);

  daemon.answers.push([503, { Code: 'BRK_ERR_CREDENTIALS_PENDING', Message: 'wait' }], [200, CREDENTIALS]);
  t.same(await connection.credentials('default', never), { value: CREDENTIALS }, 'pending: asked again');

  daemon.answers.push([502, 'not json']);
  t.match(await connection.credentials('default', never).catch((e: unknown) => e), { code: 'BRK_ERR_INTERNAL', message: /HTTP 502 without an error code/ });
  t.equal(daemon.connections(), 1, 'every request went over the one proved connection');
  t.equal(new Set(daemon.seen.map((r) => r.socket)).size, 1);

  // The connection closes (the daemon restarts, someone else may hold the port next): no
  // request goes out on a new, unproved one.
  daemon.server.closeAllConnections();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const seen = daemon.seen.length;
  t.match(await connection.credentials('default', never), { unusable: /no answer/ }, 'unusable, not sent elsewhere');
  t.equal(daemon.seen.length, seen, 'nothing was sent on a second connection');
  t.equal(daemon.connections(), 1);
});

t.test('exec\'s child environment: the endpoint in, other credentials out', async (t) => {
  const endpoint = { fullUri: 'http://127.0.0.1:1/credentials', token: TOKEN, tokenFile: '/state/token' };
  const parent = Object.fromEntries([...REMOVED_VARIABLES.map((name) => [name, 'stale']), ['PATH', '/bin'], ['AWS_REGION', 'eu-west-1'], ['aws_profile', 'lower']]);
  const env = childEnvironment(parent, endpoint, 'linux');
  for (const name of REMOVED_VARIABLES) t.notOk(name in env, `${name} removed`);
  t.match(env, { PATH: '/bin', AWS_REGION: 'eu-west-1', aws_profile: 'lower', AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/state/token' }, 'the rest kept (names are case-sensitive on Linux)');
  t.notOk('aws_profile' in childEnvironment(parent, endpoint, 'win32'), 'Windows: names are case-insensitive');
});
