import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { childEnvironment, REMOVED_VARIABLES } from '../../src/cli/exec.js';
import { type DaemonConnection, findDaemon, findDaemonOfConfigFile } from '../../src/cli/daemon-client.js';
import { deriveProfileToken } from '../../src/server/endpoint-auth.js';
import { DaemonReportedError } from '../../src/errors.js';
import { CREDENTIALS, fakeDaemon, setup, TOKEN } from '../support/fake-daemon.js';

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
  const impostor = await fakeDaemon(t, { knowsToken: false });
  writeInfo({ url: impostor.url });
  const found = await findDaemon(config);
  t.match(found, { problem: { code: 'BRK_ERR_DAEMON_UNTRUSTED', message: /could not prove[^]*No token was sent to it[^]*rotate-token/ } });
  t.same(impostor.seen.map((r) => [r.url.split('?')[0], r.authorization]), [['/proof', undefined]], 'only the challenge, without a token');
  t.notMatch(JSON.stringify(impostor.seen.map((r) => r.url)), TOKEN);
});

t.test('the command socket: the listener is known to be ours, and still proves it knows the token; any other socket is passed over', async (t) => {
  await t.test('its own, in its 0700 state directory: proof and requests go over it', async (t) => {
    const { config, writeInfo, stateDir } = await setup(t);
    const socket = join(stateDir, 'daemon.sock');
    const daemon = await fakeDaemon(t, { socket });
    // Nothing listens at the URL: only the socket can answer.
    writeInfo({ socket });
    const found = await findDaemon(config);
    t.ok(found.daemon, 'found through its socket');
    daemon.answers.push([200, CREDENTIALS]);
    t.same(await found.daemon?.credentials('default', async () => false), { value: CREDENTIALS });
    found.daemon?.close();
    t.same(daemon.seen.map((r) => [r.url.split('?')[0], r.authorization, r.overCommandSocket]), [['/proof', undefined, true], ['/credentials', TOKEN, true]], 'the proof first, without a token, then the master, all over the socket');
  });

  await t.test('a daemon that does not know the token (a rotation not yet taken up) is untrusted there too', async (t) => {
    const { config, writeInfo, stateDir } = await setup(t);
    const socket = join(stateDir, 'daemon.sock');
    const daemon = await fakeDaemon(t, { knowsToken: false, socket });
    writeInfo({ socket });
    t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_UNTRUSTED', message: /could not prove/ } });
    t.same(daemon.seen.map((r) => r.authorization), [undefined], 'it got no token');
  });

  await t.test('a socket elsewhere than the state directory, or in one others may write: loopback TCP, checked as ever', async (t) => {
    const { config, writeInfo, stateDir } = await setup(t);
    const elsewhere = await fakeDaemon(t, { socket: join(stateDir, 'other.sock') });
    writeInfo({ url: elsewhere.url, socket: join(stateDir, 'other.sock') });
    const tcp = await findDaemon(config);
    t.ok(tcp.daemon, 'found over TCP');
    tcp.daemon?.close();
    t.same(elsewhere.seen.map((r) => r.overCommandSocket), [false], 'daemon.json naming another path: nothing went through it');

    const own = await fakeDaemon(t, { socket: join(stateDir, 'daemon.sock') });
    chmodSync(stateDir, 0o777);
    t.teardown(() => chmodSync(stateDir, 0o700));
    writeInfo({ url: own.url, socket: join(stateDir, 'daemon.sock') });
    const swappable = await findDaemon(config);
    t.ok(swappable.daemon, 'found over TCP');
    swappable.daemon?.close();
    t.same(own.seen.map((r) => r.overCommandSocket), [false], 'a state directory others may write (the socket could be swapped): nothing went through it');
  });

  await t.test('a socket left by a daemon killed with SIGKILL: loopback TCP, which finds nothing there either', async (t) => {
    const { config, writeInfo, stateDir } = await setup(t);
    const socket = join(stateDir, 'daemon.sock');
    spawnSync(process.execPath, ['-e', "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", socket]);
    writeInfo({ socket });
    t.match(await findDaemon(config), { problem: { code: 'BRK_ERR_DAEMON_NOT_RUNNING' } });
  });
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
