/**
 * `cognito-broker docker` against a recording fake docker first on PATH, and a daemon in
 * this process (fake Cognito, in-memory keychain) whose container listener is on a random
 * 127.x.y.z address: what each subcommand runs, writes and prints, and what its tokens open.
 * Real containers (a network namespace on a bridge) are in test/integration/containers.test.ts.
 */
import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createDaemon } from '../../src/app/create-daemon.js';
import { runCli } from '../../src/cli/run-cli.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { writePrivateFile } from '../../src/store/atomic-file.js';
import { DAEMON_FILE, writeDaemonInfo } from '../../src/store/daemon-file.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionStore } from '../../src/store/session-store.js';
import { fakeDocker } from '../support/fake-docker.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { MemoryCognito } from '../../testkit/memory-cognito.js';
import { LogCapture, PROFILE, storedSession } from '../support/session-harness.js';

const MASTER = '5'.repeat(64);
const { name: _name, ...PROFILE_KEYS } = PROFILE;
const dir = mkdtempSync(join(tmpdir(), 'cb-docker-cli-'));
const configFile = join(dir, 'config.json');
const docker = fakeDocker();
// The CLI runs in this process: its config, state directory and docker come from here.
process.env.COGNITO_BROKER_CONFIG = configFile;
process.env.XDG_STATE_HOME = join(dir, 'state');
process.env.PATH = docker.path;
t.teardown(() => {
  docker.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

function writeConfig(server: Record<string, unknown>): void {
  writeFileSync(configFile, JSON.stringify({ '//': 'kept', server: { host: '127.0.0.1', port: 0, ...server }, profiles: { default: PROFILE_KEYS, work: PROFILE_KEYS } }, null, 4));
}

t.test('docker setup creates the network and server.containers, once; teardown removes both', async (t) => {
  writeConfig({});
  const first = await cli('docker', 'setup');
  t.equal(first.code, 0, first.stderr);
  const create = docker.calls().find((c) => c.argv[0] === 'network' && c.argv[1] === 'create');
  t.same(create?.argv, ['network', 'create', '--driver', 'bridge', '--subnet', '169.254.170.0/24', '--gateway', '169.254.170.2', '--opt', 'com.docker.network.bridge.name=cognito-broker', '--label', 'cognito-broker', 'cognito-broker']);
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  t.same(config.server.containers, { address: '169.254.170.2' });
  t.equal(config['//'], 'kept', 'comment keys stay');
  t.match(first.stderr, /Restart serve/);

  const calls = docker.calls().length;
  const again = await cli('docker', 'setup');
  t.equal(again.code, 0, again.stderr);
  t.same(docker.calls().slice(calls).map((c) => c.argv.slice(0, 2).join(' ')), ['network inspect'], 'the second time: looked, created nothing');
  t.match(again.stderr, /there already/);

  docker.setNetwork('cognito-broker', { subnet: '172.30.0.0/16', gateway: '172.30.0.1' });
  const conflict = await cli('docker', 'setup');
  t.equal(conflict.code, 1);
  t.match(conflict.stderr, /172\.30\.0\.0\/16.*BRK_ERR_DOCKER_NETWORK_CONFLICT/s);

  const down = await cli('docker', 'teardown');
  t.equal(down.code, 0, down.stderr);
  t.same(docker.networks(), {}, 'the network is gone');
  t.notOk('containers' in JSON.parse(readFileSync(configFile, 'utf8')).server, 'server.containers is gone');
});

t.test('docker setup --relay builds the shipped relay and runs it at 169.254.170.2', async (t) => {
  writeConfig({ port: 9911 });
  const setup = await cli('docker', 'setup', '--relay');
  t.equal(setup.code, 0, setup.stderr);
  t.same(docker.networks()['cognito-broker'], { subnet: '169.254.170.0/24', gateway: '169.254.170.1' }, 'the bridge takes .1: .2 is the relay\'s');
  const build = docker.calls().find((c) => c.argv[0] === 'build') as { argv: string[]; dockerfile?: boolean };
  t.ok(build.dockerfile, 'built from docker/relay/Dockerfile');
  const run = docker.calls().filter((c) => c.argv[0] === 'run').at(-1)?.argv.join(' ');
  t.match(run, '--network cognito-broker --ip 169.254.170.2');
  t.match(run, '--env TARGET_HOST=host.docker.internal --env TARGET_PORT=9912 --env LISTEN_PORTS=9911 80');
  t.same(JSON.parse(readFileSync(configFile, 'utf8')).server.containers, { address: '169.254.170.2', port: 9911, relayPort: 9912 });
  t.equal((await cli('docker', 'teardown')).code, 0);
  t.ok(docker.calls().some((c) => c.argv.join(' ') === 'rm --force cognito-broker-relay'), 'teardown removes the relay');
});

t.test('docker env, ls, revoke and run against a running daemon', async (t) => {
  // A 127.x.y.z of its own: every one is on loopback, and no other run of this file picks it.
  const address = `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(2, 255)}`;
  writeConfig({ containers: { address, relativeUri: false } });
  const config = await loadConfig({ flag: configFile });
  const secrets = new MemoryStore();
  for (const profile of Object.values(config.profiles)) await new SessionStore(secrets).save(profile, storedSession());
  const clock = new FakeClock();
  const upstream = new MemoryCognito({ clock });
  const daemon = createDaemon({
    config, secrets, masterToken: MASTER, clock, containerPollMs: 100,
    logger: createLogger({ level: 'silent', destination: new LogCapture() }),
    createClients: () => ({ userPool: upstream, identityPool: upstream, destroy: () => undefined }),
  });
  const url = await daemon.listen();
  t.teardown(() => daemon.close());
  await writePrivateFile(config.server.tokenFile, MASTER);
  await writeDaemonInfo(join(config.stateDir, DAEMON_FILE), { pid: process.pid, url, tokenFile: config.server.tokenFile, config: configFile, defaultProfile: 'default', profiles: ['default', 'work'], startedAt: new Date(Date.now() + 1000).toISOString() });
  const port = new URL(url).port;
  const fetchStatus = async (target: string, token: string) => (await fetch(target, { headers: { authorization: token } })).status;

  const env = await cli('docker', 'env', '--profile', 'work', '--name', 'web');
  t.equal(env.code, 0, env.stderr);
  const lines = env.stdout.trim().split('\n');
  const id = /container token ([0-9a-f]{16}) \(web\) for profile "work"; revoke it with: cognito-broker docker revoke \1$/.exec(lines[0] ?? '')?.[1] as string;
  t.ok(id, `a comment names the id and how to revoke it: ${lines[0]}`);
  t.equal(lines[1], `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://${address}:${port}/profiles/work/credentials`, 'FULL_URI on the container address, the same port');
  const token = /^AWS_CONTAINER_AUTHORIZATION_TOKEN=([0-9a-f]{64})$/.exec(lines[2] ?? '')?.[1] as string;
  t.ok(token);
  t.equal(lines.length, 3, 'KEY=VALUE lines only, for --env-file and env_file:');
  t.equal(await fetchStatus(`http://${address}:${port}/profiles/work/credentials`, token), 200, 'the token opens work on the container listener');
  t.equal(await fetchStatus(`http://${address}:${port}/credentials`, token), 403, 'not another profile');
  t.equal(await fetchStatus(`${url}/profiles/work/credentials`, token), 401, 'nothing on loopback');
  t.equal(await fetchStatus(`http://${address}:${port}/credentials`, MASTER), 401, 'the master opens nothing there');

  const registry = join(config.stateDir, 'container-tokens.json');
  t.equal(statSync(registry).mode & 0o777, 0o600, 'the registry is 0600');
  t.notOk(readFileSync(registry, 'utf8').includes(token), 'and holds no token');
  t.match(readFileSync(registry, 'utf8'), id);

  const ls = await cli('docker', 'ls');
  t.match(ls.stdout, `listener: listening on ${address}:${port}`);
  t.match(ls.stdout, new RegExp(`^${id}\twork\tfull-uri\tno\t\\S+\tweb$`, 'm'));
  t.notOk(ls.stdout.includes(token), 'ls shows no value');

  const relative = await cli('docker', 'env', '--relative-uri');
  t.equal(relative.code, 1);
  t.match(relative.stderr, /port 80.*server\.containers\.relativeUri is false.*BRK_ERR_RELATIVE_URI_UNAVAILABLE/s);

  const revoke = await cli('docker', 'revoke', id);
  t.equal(revoke.code, 0, revoke.stderr);
  t.equal(await fetchStatus(`http://${address}:${port}/profiles/work/credentials`, token), 401, 'revoked: refused at once');
  t.match((await cli('docker', 'ls')).stdout, /no long-lived container tokens/);
  t.match((await cli('docker', 'revoke', id)).stderr, /BRK_ERR_CONTAINER_TOKEN_NOT_FOUND/);

  // docker run: the "container" is a node process that fetches with what the env file gave it.
  process.env.FAKE_DOCKER_EXEC = JSON.stringify(['/usr/bin/env']);
  t.teardown(() => delete process.env.FAKE_DOCKER_EXEC);
  const probe = 'fetch(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, { headers: { authorization: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN } }).then((r) => process.exit(r.status === 200 ? 7 : 1))';
  const run = await cli('docker', 'run', '--', '--rm', 'some/image', process.execPath, '-e', probe);
  t.equal(run.code, 7, `the container got credentials, and docker's exit code is ours: ${run.stderr}`);
  const call = docker.calls().filter((c) => c.argv[0] === 'run').at(-1);
  t.same(call?.argv.slice(0, 5), ['run', '--network', 'cognito-broker', '--env-file', call?.envFile?.path]);
  t.same(call?.argv.slice(5, 7), ['--rm', 'some/image'], 'then the arguments given');
  t.equal(call?.envFile?.mode, 0o600, 'the env file is 0600 while docker reads it');
  const runToken = /^AWS_CONTAINER_AUTHORIZATION_TOKEN=([0-9a-f]{64})$/m.exec(call?.envFile?.content ?? '')?.[1] as string;
  t.match(call?.envFile?.content, `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://${address}:${port}/credentials\n`);
  t.notOk(call?.argv.some((a) => a.includes(runToken)), 'the token is not in docker\'s argv');
  t.notOk(existsSync(call?.envFile?.path as string), 'the env file is gone');
  t.equal(await fetchStatus(`http://${address}:${port}/credentials`, runToken), 401, 'the token ended with docker run');
});
