/**
 * The files serve writes: the endpoint token (0600, in a 0700 directory, written whole or
 * not at all) and daemon.json (no secret). Through the compiled CLI, on a real Secret
 * Service, and a writer killed with SIGKILL mid-write.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { requireSecretService, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { startSecretService } from '../support/secret-service.js';
import { deriveProfileToken } from '../../src/server/endpoint-auth.js';
import { repoPath } from '../support/paths.js';

const mode = (path: string) => statSync(path).mode & 0o777;
const PROFILE = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
  // Never reached: nobody is signed in, so the broker makes no upstream call.
  endpoints: { cognitoIdp: 'http://127.0.0.1:9', cognitoIdentity: 'http://127.0.0.1:9' },
};

t.test('serve replaces a token file others could read, tightens the state directory, and daemon.json holds no secret', async (t) => {
  if (!requireSecretService(t)) return;
  const secretService = await startSecretService();
  t.teardown(() => secretService.stop());
  const dir = mkdtempSync(join(tmpdir(), 'cb-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state', 'cognito-broker');
  const tokenFile = join(stateDir, 'endpoint-token');
  const exposed = 'ab'.repeat(32);
  mkdirSync(stateDir, { recursive: true });
  chmodSync(stateDir, 0o755);
  writeFileSync(tokenFile, exposed);
  chmodSync(tokenFile, 0o644);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ server: { port: 0 }, profiles: { default: PROFILE } }));
  const env = { PATH: process.env.PATH, ...secretService.env, COGNITO_BROKER_CONFIG: config, COGNITO_BROKER_KEYCHAIN_SERVICE: TEST_KEYCHAIN_SERVICE, XDG_STATE_HOME: join(dir, 'state') };

  let serve = await startServe([], env);
  const master = readFileSync(tokenFile, 'utf8');
  t.not(master, exposed, 'a token others could read is no secret: replaced by a new one');
  t.match(master, /^[0-9a-f]{64}$/, 'no trailing newline');
  t.equal(mode(tokenFile), 0o600);
  t.equal(mode(stateDir), 0o700, 'the state directory was tightened from 0755 to 0700');
  t.match(serve.stderr(), /state directory was readable by other users/, 'and the log says so');
  t.match(serve.stderr(), /token file was readable by other users: it holds a new token now/);
  t.equal(serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN, deriveProfileToken(master, 'default', false), 'serve hands out the default profile\'s token, never the master');

  const daemonFile = join(stateDir, 'daemon.json');
  t.equal(mode(daemonFile), 0o600, 'daemon.json is 0600 too');
  const info = JSON.parse(readFileSync(daemonFile, 'utf8')) as Record<string, unknown>;
  t.same(Object.keys(info).sort(), ['config', 'defaultProfile', 'pid', 'profiles', 'socket', 'startedAt', 'tokenFile', 'url']);
  t.notOk(readFileSync(daemonFile, 'utf8').includes(master), 'daemon.json names the token file, never the token');
  t.equal(info.tokenFile, tokenFile);
  t.same(readdirSync(stateDir).sort(), ['daemon.json', 'daemon.sock', 'endpoint-token', 'locks', 'prompt.json', 'tokens'], 'no temp files left behind');
  t.equal(mode(join(stateDir, 'prompt.json')), 0o600, 'prompt.json (status --prompt\'s) is 0600');
  t.equal(mode(join(stateDir, 'daemon.sock')), 0o600, 'the command socket: connecting takes write permission, this user\'s alone');
  t.equal(mode(join(stateDir, 'locks')), 0o700, 'the refresh locks\' directory');
  t.equal(mode(join(stateDir, 'tokens')), 0o700);
  t.equal(mode(join(stateDir, 'tokens', 'default')), 0o600, 'the profile token file');

  const envOut = await runCli(['env'], env);
  t.equal(envOut.code, 0, envOut.stderr);
  t.match(envOut.stdout, `AWS_CONTAINER_AUTHORIZATION_TOKEN=${serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN}`);
  t.equal(await serve.stop(), 0);
  t.notOk(existsSync(daemonFile), 'daemon.json is removed on shutdown');
  t.notOk(existsSync(join(stateDir, 'daemon.sock')), 'and the command socket');
  t.equal(readFileSync(tokenFile, 'utf8'), master, 'the token file stays for the next start');

  serve = await startServe([], env);
  t.teardown(() => serve.stop());
  t.equal(readFileSync(tokenFile, 'utf8'), master, 'a private token file is kept across restarts');
  const again = await runCli(['env'], env);
  t.match(again.stdout, `AWS_CONTAINER_AUTHORIZATION_TOKEN=${deriveProfileToken(master, 'default', false)}`, 'so shells that ran env keep working');
});

const WRITER = `
import { writePrivateFile } from ${JSON.stringify(pathToFileURL(repoPath('dist/src/store/atomic-file.js')).href)};
const [file, size] = [process.argv[1], Number(process.argv[2])];
const contents = ['A', 'B'].map((c) => c.repeat(size));
process.send?.('ready');
for (let i = 0; ; i++) await writePrivateFile(file, contents[i % 2]);
`;

t.test('a writer killed with SIGKILL mid-write leaves the old file or the new one, whole, and no readable temp file', async (t) => {
  if (!existsSync(repoPath('dist/src/store/atomic-file.js'))) {
    t.fail('dist/ is missing: run `npx tsc` (npm test does)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'cb-atomic-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'private', 'endpoint-token');
  const size = 2 * 1024 * 1024;
  const wholes = new Set(['A', 'B'].map((c) => c.repeat(size)));
  const KILLS = 6;
  let seenTemp = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, file, String(size)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    await once(child, 'message');
    // Let it write for a while, then kill it wherever it is.
    await new Promise((resolve) => setTimeout(resolve, 30 + kill * 17));
    child.kill('SIGKILL');
    await once(child, 'exit');
    if (!existsSync(file)) continue; // killed before the first rename
    const content = readFileSync(file, 'utf8');
    t.ok(wholes.has(content), `after kill ${kill + 1}: the file is one whole version (${content.length} bytes)`);
    t.equal(mode(file), 0o600, 'and 0600');
    const temps = readdirSync(join(dir, 'private')).filter((name) => name.endsWith('.tmp'));
    seenTemp += temps.length;
    for (const temp of temps) {
      t.equal(mode(join(dir, 'private', temp)), 0o600, `a temp file a crash left (${temp}) is 0600 as well`);
      rmSync(join(dir, 'private', temp));
    }
  }
  t.ok(existsSync(file), 'the writer got through at least one write');
  t.equal(mode(join(dir, 'private')), 0o700, 'the directory it created is 0700');
  t.comment(`${KILLS} kills; ${seenTemp} interrupted temp files found (each 0600)`);
});
