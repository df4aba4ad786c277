/**
 * `status` tells the daemon's truth: a daemon with a working keychain, asked from a shell
 * that has none (no D-Bus session: an SSH shell beside a desktop session's service).
 * The compiled CLI, the local stack, the real Secret Service for the daemon only.
 */
import t from 'tap';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';

t.test('a shell without the keychain sees the daemon\'s user and state, and a note of its own', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const deadline = Date.now() + 20_000;
  while ((await serve.phase()) !== 'ready' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));

  // No session bus at all: the keychain cannot be reached from this shell.
  const shell = { ...be.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };
  const json = await runCli(['status', '--json'], shell);
  t.equal(json.code, 0, `exit 0: the daemon is ready, whatever this shell can read (${json.stderr})`);
  const report = JSON.parse(json.stdout) as { daemon: { running: boolean }; profiles: Record<string, unknown>[] };
  t.equal(report.daemon.running, true);
  t.match(report.profiles[0], {
    profile: 'default',
    state: 'ready',
    signedIn: true,
    user: be.stack.username,
    signInMethod: 'password',
    signedInAt: /Z$/,
    secretStore: 'keychain',
    lastError: null,
    shellError: { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE' },
  }, 'the daemon\'s user, method and store; no error on the profile; the shell\'s failure apart');

  const table = await runCli(['status', '--table'], shell);
  t.equal(table.code, 0);
  t.match(table.stdout, /Note: this shell cannot read its keychain \(BRK_ERR_KEYCHAIN_UNAVAILABLE: [^\n]*\); the daemon can/);
  t.match(table.stdout, new RegExp(`\\ndefault \\*\\s+ready\\s+${be.stack.username}\\s`), 'the user is the daemon\'s, not "?"');
  t.notMatch(table.stdout, /last error/);

  const withKeychain = JSON.parse((await runCli(['status', '--json'], be.env)).stdout) as { profiles: Record<string, unknown>[] };
  t.match(withKeychain.profiles[0], { user: be.stack.username, shellError: null }, 'a shell that reads the keychain: no note');
});
