import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { askDaemonSocket, DAEMON_TIMEOUT_MS, isTokenBody } from '../../src/cli/ask-daemon-socket.js';
import { isCredentialsBody } from '../../src/server/container-credentials.js';
import { CREDENTIALS, fakeDaemon, setup, TOKEN } from '../support/fake-daemon.js';

const TOKENS = { IdToken: 'id.token.x', AccessToken: 'access.token.x', Expiration: '2030-01-01T00:00:00.000Z' };

t.test('one request over the command socket, with the master token, for the profile asked for', async (t) => {
  const { config, writeInfo, stateDir } = await setup(t);
  const socket = join(stateDir, 'daemon.sock');
  const daemon = await fakeDaemon(t, { socket });
  writeInfo({ url: 'http://127.0.0.1:9911', socket });

  daemon.answers.push([200, TOKENS], [200, CREDENTIALS]);
  t.same(await askDaemonSocket({ config: config.file }, 'token', isTokenBody), TOKENS);
  t.same(await askDaemonSocket({ config: config.file, profile: 'work' }, 'credentials', isCredentialsBody), CREDENTIALS);
  t.same(daemon.seen.map((r) => [r.url, r.authorization, r.host, r.overCommandSocket]), [
    ['/token', TOKEN, '127.0.0.1:9911', true],
    ['/profiles/work/credentials', TOKEN, '127.0.0.1:9911', true],
  ], 'the routes, the master token and the Host the loopback listener checks; nothing else, no proof');
});

t.test('anything but a 200 with the expected body is left to the whole command', async (t) => {
  const { config, writeInfo, stateDir } = await setup(t);
  const socket = join(stateDir, 'daemon.sock');
  const daemon = await fakeDaemon(t, { socket });
  writeInfo({ socket });
  const ask = () => askDaemonSocket({ config: config.file }, 'credentials', isCredentialsBody);
  daemon.answers.push([503, { Code: 'BRK_ERR_CREDENTIALS_PENDING', Message: 'wait' }]);
  t.equal(await ask(), undefined, 'an error (the whole command waits, or reports it)');
  daemon.answers.push([401, { Code: 'BRK_ERR_UNAUTHORIZED', Message: 'no' }]);
  t.equal(await ask(), undefined, 'a refused token (a rotation the daemon has not taken up)');
  daemon.answers.push([200, TOKENS]);
  t.equal(await ask(), undefined, 'another body');
  daemon.answers.push([0, CREDENTIALS]);
  t.equal(await ask(), undefined, 'an answer without Content-Length');
  daemon.answers.push([-1, undefined]);
  t.equal(await ask(), undefined, 'a hang-up');
  daemon.answers.push([200, CREDENTIALS]);
  t.same(await ask(), CREDENTIALS, 'and then an answer (so the checks above can fail)');
});

t.test('no token leaves unless the socket is this user\'s, in the state directory of this config\'s daemon', async (t) => {
  const { config, writeInfo, stateDir } = await setup(t);
  const socket = join(stateDir, 'daemon.sock');
  const daemon = await fakeDaemon(t, { socket });
  const elsewhere = await fakeDaemon(t, { socket: join(stateDir, 'other.sock') });
  for (let i = 0; i < 5; i += 1) daemon.answers.push([200, CREDENTIALS]);
  elsewhere.answers.push([200, CREDENTIALS]);
  const ask = (options = { config: config.file }) => askDaemonSocket(options, 'credentials', isCredentialsBody);

  chmodSync(stateDir, 0o1777);
  writeInfo({ socket });
  t.equal(await ask(), undefined, 'a state directory others may write, even a sticky one (the socket could be swapped)');
  chmodSync(stateDir, 0o700);
  writeInfo({ socket: join(stateDir, 'other.sock') });
  t.equal(await ask(), undefined, 'daemon.json naming a socket other than the state directory\'s daemon.sock');
  writeInfo({});
  t.equal(await ask(), undefined, 'a daemon.json without a socket (a daemon from before it had one; Windows)');
  writeInfo({ socket, config: join(stateDir, 'other.json') });
  t.equal(await ask(), undefined, 'a daemon of another config');
  writeInfo({ socket, profiles: ['default'] });
  t.equal(await ask({ config: config.file, profile: 'work' } as { config: string }), undefined, 'a profile it does not serve');
  t.same([...daemon.seen, ...elsewhere.seen], [], 'none of them was sent anything');
  writeInfo({ socket });
  t.same(await ask(), CREDENTIALS, 'its own socket in its private state directory: asked (so the checks above can fail)');
});

t.test('a daemon that does not answer costs the command DAEMON_TIMEOUT_MS, then the whole command runs', async (t) => {
  const { config, writeInfo, stateDir } = await setup(t);
  const socket = join(stateDir, 'daemon.sock');
  const daemon = await fakeDaemon(t, { socket });
  writeInfo({ socket });
  daemon.answers.push([-2, undefined]);
  const started = Date.now();
  t.equal(await askDaemonSocket({ config: config.file }, 'token', isTokenBody), undefined);
  t.ok(Date.now() - started >= DAEMON_TIMEOUT_MS - 50, 'it waited for the answer');
});
