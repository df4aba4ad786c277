/**
 * Another OS user takes the daemon's port while the daemon is down (crash, restart, pid
 * reused): no command sends it any token, the commands that can work without the daemon
 * do so in-process and never show what it answered, and the others say whose the port is.
 * A real second user (useradd, runuser), the compiled CLI, the local stack, the real
 * Secret Service.
 */
import { chmodSync, chownSync, lstatSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type BrokerEnv, requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { OTHER_USER, otherUid, requireOtherUser, squat, squatSocket, type SeenRequest } from '../support/other-user.js';

/** The local stack with the default profile signed in; undefined (the test failed or skipped) without a Secret Service or another user. */
async function signedIn(t: Test): Promise<BrokerEnv | undefined> {
  if (!requireSecretService(t) || !requireOtherUser(t)) return undefined;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const login = await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`);
  t.equal(login.code, 0, login.stderr);
  return be;
}

t.test('a port squatted by another user gets no token; credentials come from this process instead', async (t) => {
  const be = await signedIn(t);
  if (!be) return;

  const serve = await startServe([], be.env);
  const url = new URL(serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string);
  const env = await runCli(['env'], be.env);
  t.equal(env.code, 0, env.stderr);
  const shellToken = /AWS_CONTAINER_AUTHORIZATION_TOKEN=(\w+)/.exec(env.stdout)?.[1] as string;
  const tokenFile = JSON.parse(readFileSync(join(be.env.XDG_STATE_HOME as string, 'cognito-broker', 'daemon.json'), 'utf8')).tokenFile as string;
  const master = readFileSync(tokenFile, 'utf8');

  // The daemon dies without cleaning up; another user listens on its port, and a process
  // of theirs now has the daemon's old pid (here: the squatter's own, which is alive).
  serve.child.kill('SIGKILL');
  await new Promise((resolve) => serve.child.once('exit', resolve));
  const daemonSocket = JSON.parse(readFileSync(join(be.env.XDG_STATE_HOME as string, 'cognito-broker', 'daemon.json'), 'utf8')).socket as string;
  t.ok(lstatSync(daemonSocket).isSocket(), 'the daemon left its command socket behind, where nothing listens: the commands try it first');
  const squatter = await squat('127.0.0.1', Number(url.port));
  t.teardown(() => squatter.stop());
  const daemonFile = join(be.env.XDG_STATE_HOME as string, 'cognito-broker', 'daemon.json');
  writeFileSync(daemonFile, JSON.stringify({ ...JSON.parse(readFileSync(daemonFile, 'utf8')), pid: squatter.child.pid }));
  const owner = new RegExp(`another user's process \\(uid ${otherUid()} \\(${OTHER_USER}\\)\\)`);

  const credentialProcess = await runCli(['credential-process'], be.env);
  t.equal(credentialProcess.code, 0, credentialProcess.stderr);
  const printed = JSON.parse(credentialProcess.stdout) as { AccessKeyId: string };
  t.not(printed.AccessKeyId, 'ASIAIMPOSTOR', 'not what the impostor answered');
  t.match(printed.AccessKeyId, /^ASIA/, 'real credentials, from the identity pool, in-process');
  t.match(credentialProcess.stderr, owner, 'stderr says whose the port is');
  t.match(credentialProcess.stderr, /No token was sent to it/);

  const token = await runCli(['token'], be.env);
  t.equal(token.code, 0, token.stderr);
  t.not(token.stdout.trim(), 'impostor.id.token');
  t.match(token.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/, 'a real ID token (a JWT)');

  const exec = await runCli(['exec', '--', process.execPath, '-e', `
    fetch(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, { headers: { authorization: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN } })
      .then((r) => r.json()).then((b) => console.log(JSON.stringify({ uri: process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, key: b.AccessKeyId })));`], be.env);
  t.equal(exec.code, 0, exec.stderr);
  const child = JSON.parse(exec.stdout) as { uri: string; key: string };
  t.not(new URL(child.uri).port, url.port, 'exec served its child itself, on another port');
  t.match(child.key, /^ASIA/);

  const envAgain = await runCli(['env'], be.env);
  t.equal(envAgain.code, 1);
  t.match(envAgain.stderr, owner);
  t.match(envAgain.stderr, /BRK_ERR_DAEMON_UNTRUSTED/);
  t.equal(envAgain.stdout, '', 'env printed no lines');

  const status = await runCli(['status', '--json'], be.env);
  t.equal(status.code, 4, 'status: no daemon of ours');
  t.match(JSON.parse(status.stdout), { daemon: { running: false, reason: owner } });

  // On Linux the socket's owner is checked first: nothing at all is sent to another user's
  // listener. (Where that cannot be told, only the token-less challenge would be.)
  const seen: SeenRequest[] = squatter.requests();
  t.same(seen, [], 'not one request reached it');
  for (const request of seen) {
    t.equal(request.headers.authorization, undefined, `${request.method} ${request.url}: no Authorization header`);
    t.match(request.url, /^\/proof\?nonce=[0-9a-f]{64}$/, 'nothing but the challenge');
  }
  const everything = JSON.stringify(seen);
  for (const [what, secret] of Object.entries({ master, shellToken })) t.notOk(everything.includes(secret), `the ${what} never reached it`);
});

t.test('serve on a port another user holds: exits 1, names the user, says the token may be exposed and how to rotate it', async (t) => {
  if (!requireOtherUser(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const squatter = await squat('127.0.0.1', 0);
  t.teardown(() => squatter.stop());
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(be.configFile, JSON.stringify({ ...config, server: { host: '127.0.0.1', port: squatter.port } }));
  const serve = await runCli(['serve'], be.env);
  t.equal(serve.code, 1);
  t.match(serve.stderr, new RegExp(`Port ${squatter.port} on 127\\.0\\.0\\.1 is held by another user's process \\(uid ${otherUid()} \\(${OTHER_USER}\\)\\)[^]*rotate-token[^]*BRK_ERR_PORT_HELD_BY_OTHER_USER`));
  t.same(squatter.requests(), []);
});

t.test("a command socket that is not this user's gets nothing: the commands reach the daemon over loopback, proved", async (t) => {
  const be = await signedIn(t);
  if (!be) return;
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());

  // Another user's socket where the daemon's is: they listen on one in a directory of theirs,
  // and it is moved into the state directory (root can; they could not).
  const dir = mkdtempSync('/tmp/cognito-broker-other-socket-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chownSync(dir, otherUid(), 0);
  chmodSync(dir, 0o755);
  const squatter = await squatSocket(join(dir, 'daemon.sock'));
  t.teardown(() => squatter.stop());
  const daemonSocket = JSON.parse(readFileSync(join(be.env.XDG_STATE_HOME as string, 'cognito-broker', 'daemon.json'), 'utf8')).socket as string;
  renameSync(join(dir, 'daemon.sock'), daemonSocket);
  t.equal(lstatSync(daemonSocket).uid, otherUid(), "the state directory's daemon.sock is now the other user's");

  const token = await runCli(['token'], be.env);
  t.equal(token.code, 0, token.stderr);
  t.match(token.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/, 'a real ID token (a JWT), not the impostor\'s');
  const credentialProcess = await runCli(['credential-process'], be.env);
  t.equal(credentialProcess.code, 0, credentialProcess.stderr);
  t.match(JSON.parse(credentialProcess.stdout), { AccessKeyId: /^ASIA(?!IMPOSTOR)/ });
  const status = await runCli(['status', '--json'], be.env);
  t.match(JSON.parse(status.stdout), { daemon: { running: true } }, 'status found the daemon over loopback');
  t.same(squatter.requests(), [], 'not one request reached the other user\'s socket');
});
