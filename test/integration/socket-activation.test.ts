/**
 * serve takes over a listening socket from systemd (socket activation), as the units that
 * `service install` writes arrange: systemd-socket-activate (from the systemd package) binds
 * the port and starts serve with LISTEN_FDS, exactly as systemd does.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { listenerOwner } from '../../src/app/listener-owner.js';
import { freePort } from '../../testkit/ports.js';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { CLI_BIN as MAIN, runCli } from '../support/cli.js';
import { requireTool } from '../support/require-tool.js';


t.test('serve listens on the socket systemd hands it (LISTEN_FDS), and serves on it', async (t) => {
  if (!requireSecretService(t)) return;
  const activate = requireTool(t, 'systemd-socket-activate', 'apt-get install systemd');
  if (!activate) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  const port = await freePort();
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(be.configFile, JSON.stringify({ ...config, server: { host: '127.0.0.1', port } }));

  const env: NodeJS.ProcessEnv = { ...be.env, NODE_NO_WARNINGS: '1' };
  // It starts the program with an empty environment but for what -E passes on, as a unit's Environment= lines do.
  const passOn = Object.keys(env).flatMap((name) => ['-E', name]);
  const child = spawn(activate, ['-l', `127.0.0.1:${port}`, ...passOn, process.execPath, MAIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // systemd-socket-activate binds at once and starts serve on the first connection.
  const deadline = Date.now() + 20_000;
  while ((await listenerOwner('127.0.0.1', port)) === undefined) {
    if (Date.now() > deadline) throw new Error(`nothing listens: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const proof = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(proof.status, 200, 'the first connection starts serve, which answers on the inherited socket');
  while (!/AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=(\S+)/.test(stdout)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const tokenFile = /AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=(\S+)/.exec(stdout)?.[1] as string;
  t.match(stdout, new RegExp(`FULL_URI=http://127\\.0\\.0\\.1:${port}/credentials`), 'the URL is the inherited socket\'s');
  const res = await fetch(`http://127.0.0.1:${port}/credentials`, { headers: { authorization: readFileSync(tokenFile, 'utf8') } });
  t.equal(res.status, 200);
  t.match(stderr, /"socketActivated":true/, 'serve says it runs on the inherited socket');
  const envOut = await runCli(['env'], be.env);
  t.equal(envOut.code, 0, `env finds and verifies it: ${envOut.stderr}`);
  child.kill('SIGTERM');
  await once(child, 'exit');
});
