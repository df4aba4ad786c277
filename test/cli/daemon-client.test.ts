import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { childEnvironment, REMOVED_VARIABLES } from '../../src/cli/exec.js';
import { daemonCredentials, daemonRoute, DaemonReportedError, findDaemon, findDaemonOfConfigFile, type RunningDaemon } from '../../src/cli/daemon-client.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/config.js';

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

t.test('findDaemon: only an alive daemon of this config, token file and profile', async (t) => {
  const { config, writeInfo } = await setup(t);
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'no daemon.json');

  writeInfo({});
  const found = await findDaemon(config, { profile: 'work' });
  t.equal(found.daemon?.token, TOKEN, 'alive, same config: found, with the token');
  t.equal(daemonRoute(found.daemon as RunningDaemon, 'work', 'credentials'), 'http://127.0.0.1:9/profiles/work/credentials');
  t.equal(daemonRoute(found.daemon as RunningDaemon, 'default', 'token'), 'http://127.0.0.1:9/token');

  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  writeInfo({ pid: dead });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'a dead pid');
  writeInfo({ config: '/elsewhere/config.json' });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_MISMATCH', message: /serves the config \/elsewhere\/config\.json/ } });
  writeInfo({ tokenFile: '/elsewhere/token' });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_MISMATCH', message: /token file is \/elsewhere\/token/ } });
  writeInfo({ profiles: ['default'] });
  t.match(await findDaemon(config, { profile: 'work' }), { problem: { code: 'BRK_ERR_DAEMON_MISMATCH', message: /does not serve profile "work"/ } });
  writeInfo({ config: undefined });
  t.ok((await findDaemon(config)).daemon, 'a daemon.json from before the config field: the token file decides');
  writeInfo({ pid: 'x' });
  t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'a malformed file');
  writeInfo({});
  t.match(await findDaemon(config, { probe: true }), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } }, 'probe: nothing answers at its URL');
});

t.test('findDaemonOfConfigFile: the fast path needs the same file, unchanged since the daemon started', async (t) => {
  const { config, writeInfo } = await setup(t);
  writeInfo({});
  t.match(await findDaemonOfConfigFile(config.file, undefined), { profile: 'default', daemon: { token: TOKEN } });
  t.match(await findDaemonOfConfigFile(config.file, 'work'), { profile: 'work' });
  t.equal(await findDaemonOfConfigFile(config.file, 'nobody'), undefined, 'a profile it does not serve');
  t.equal(await findDaemonOfConfigFile(join(config.file, '..', 'other.json'), undefined), undefined, 'another config file');
  writeInfo({ config: undefined });
  t.equal(await findDaemonOfConfigFile(config.file, undefined), undefined, 'no config in daemon.json: the slow path decides');
  writeInfo({ startedAt: new Date(Date.now() - 120_000).toISOString() });
  t.equal(await findDaemonOfConfigFile(config.file, undefined), undefined, 'the config changed after the daemon started');
  writeInfo({ startedAt: undefined });
  t.equal(await findDaemonOfConfigFile(config.file, undefined), undefined, 'no startedAt: taken as changed');
});

t.test('daemonCredentials: one call; waits for a fresh sign-in; otherwise the daemon\'s error', async (t) => {
  const answers: [number, unknown][] = [];
  let requests = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests += 1;
    const [status, body] = answers.shift() ?? [500, {}];
    t.equal(request.headers.authorization, TOKEN, 'the token as the Authorization header');
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const daemon: RunningDaemon = { url, token: TOKEN, info: { pid: process.pid, url, tokenFile: '/x', defaultProfile: 'default', profiles: ['default'], startedAt: '' } };
  const never = async () => false;
  const always = async () => true;

  answers.push([200, CREDENTIALS]);
  t.same(await daemonCredentials(daemon, 'default', never), { value: CREDENTIALS });

  answers.push([401, { Code: 'BRK_ERR_UNAUTHORIZED', Message: 'no' }]);
  t.match(await daemonCredentials(daemon, 'default', never), { unusable: /refused the token/ }, '401: not our daemon');

  answers.push([503, { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: 'Profile "default" is not signed in. Run: cognito-broker login' }]);
  const error = await daemonCredentials(daemon, 'default', never).catch((e: unknown) => e);
  t.ok(error instanceof DaemonReportedError);
  t.match(error, { code: 'BRK_ERR_NOT_SIGNED_IN', message: /Run: cognito-broker login/ }, 'nothing in the keychain: the daemon\'s error at once');

  requests = 0;
  answers.push([503, { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: 'not yet' }], [503, { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: 'not yet' }], [200, CREDENTIALS]);
  t.same(await daemonCredentials(daemon, 'default', always), { value: CREDENTIALS }, 'a sign-in in the keychain: asked again until the daemon has it');
  t.equal(requests, 3);

  answers.push([503, { Code: 'BRK_ERR_CREDENTIALS_PENDING', Message: 'wait' }], [200, CREDENTIALS]);
  t.same(await daemonCredentials(daemon, 'default', never), { value: CREDENTIALS }, 'pending: asked again');

  answers.push([502, 'not json']);
  t.match(await daemonCredentials(daemon, 'default', never).catch((e: unknown) => e), { code: 'BRK_ERR_INTERNAL', message: /HTTP 502 without an error code/ });

  const gone = { ...daemon, url: 'http://127.0.0.1:9' };
  t.match(await daemonCredentials(gone, 'default', never), { unusable: /no answer/ }, 'nothing listening: unusable, not an error');
});

t.test('exec\'s child environment: the endpoint in, other credentials out', async (t) => {
  const endpoint = { fullUri: 'http://127.0.0.1:1/credentials', token: TOKEN, tokenFile: '/state/token' };
  const parent = Object.fromEntries([...REMOVED_VARIABLES.map((name) => [name, 'stale']), ['PATH', '/bin'], ['AWS_REGION', 'eu-west-1'], ['aws_profile', 'lower']]);
  const env = childEnvironment(parent, endpoint, 'linux');
  for (const name of REMOVED_VARIABLES) t.notOk(name in env, `${name} removed`);
  t.match(env, { PATH: '/bin', AWS_REGION: 'eu-west-1', aws_profile: 'lower', AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/state/token' }, 'the rest kept (names are case-sensitive on Linux)');
  t.notOk('aws_profile' in childEnvironment(parent, endpoint, 'win32'), 'Windows: names are case-insensitive');
});
