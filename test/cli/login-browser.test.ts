import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { wantsBrowserLogin } from '../../src/cli/login-browser.js';
import { runCli } from '../../src/cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'cb-login-browser-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const pool = { region: 'eu-west-1', userPoolId: 'eu-west-1_AbC', clientId: 'client1', identityPoolId: 'eu-west-1:0b5f2f5e' };
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify({
  profiles: {
    work: { ...pool, hostedUi: { domain: 'https://p.auth.eu-west-1.amazoncognito.com', redirectPort: 53682 } },
    okta: { region: 'eu-west-1', identityPoolId: pool.identityPoolId, oidc: { issuer: 'https://example.okta.com', clientId: 'app', redirectPort: 53683 } },
  },
}));

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (s: string) => void (out.stdout += s), stderr: (s: string) => void (out.stderr += s) } };
}

t.test('login means the browser with --browser or --no-browser, or for a profile with oidc', async (t) => {
  t.equal(await wantsBrowserLogin(['--browser']), true);
  t.equal(await wantsBrowserLogin(['--no-browser', '--profile', 'work']), true);
  t.equal(await wantsBrowserLogin(['--remote']), true, '--remote is a browser login');
  t.equal(await wantsBrowserLogin(['--no-remote']), true);
  t.equal(await wantsBrowserLogin(['--config', config, '--profile', 'okta']), true, 'an OIDC profile has no password flow');
  t.equal(await wantsBrowserLogin([`--config=${config}`, '--profile=work']), false, 'a hostedUi profile still signs in with a password by default');
  t.equal(await wantsBrowserLogin(['--config', config, '--profile']), false, 'a flag without its value is left to login\'s own parser');
  await t.rejects(wantsBrowserLogin(['--config', config, '--profile', 'nope']), { code: 'BRK_ERR_UNKNOWN_PROFILE' });
});

t.test('login --help shows the browser options; logout --help its own', async (t) => {
  const login = capture();
  t.equal(await runCli(['login', '--help'], login.io), 0);
  t.match(login.out.stdout, /--browser[\s\S]*--no-browser[\s\S]*--remote[\s\S]*--no-remote[\s\S]*--timeout SECONDS/);
  t.match(login.out.stdout, /--remote +for a browser that cannot reach this machine[\s\S]*paste that address back here[\s\S]*SSH_CONNECTION[\s\S]*WSL[\s\S]*no display/, 'the help says when --remote is chosen on its own');
  t.match(login.out.stdout, /one-time sign-in URL[\s\S]*no other local user sees the URL[\s\S]*cookie[\s\S]*snap Firefox[\s\S]*refused and the\s+login goes on waiting/, 'the help says how the browser is bound to the login');
  const logout = capture();
  t.equal(await runCli(['logout', '--help'], logout.io), 0);
  t.match(logout.out.stdout, /Usage: cognito-broker logout \[--profile P\] \[--global\][\s\S]*BRK_ERR_REVOCATION_FAILED/);
  const help = capture();
  await runCli(['--help'], help.io);
  t.match(help.out.stdout, /logout +revoke a profile's refresh token/);
});

t.test('bad browser options are usage errors; a profile without hostedUi has no browser sign-in', async (t) => {
  for (const timeout of ['0', 'soon', '3601', '1.5', '-1']) {
    const bad = capture();
    t.equal(await runCli(['login', '--browser', '--config', config, '--profile', 'work', '--timeout', timeout], bad.io), 2, `--timeout ${timeout}`);
    t.match(bad.out.stderr, timeout === '-1' ? /'--timeout' argument is ambiguous/ : /--timeout takes a number of seconds from 1 to 3600/);
  }
  const both = capture();
  t.equal(await runCli(['login', '--browser', '--remote', '--no-remote', '--config', config, '--profile', 'work'], both.io), 2);
  t.match(both.out.stderr, /--remote and --no-remote cannot go together/);
  const plain = join(dir, 'plain.json');
  writeFileSync(plain, JSON.stringify({ profiles: { default: pool } }));
  const none = capture();
  t.equal(await runCli(['login', '--browser', '--config', plain], none.io), 1);
  t.match(none.out.stderr, /no "hostedUi" \(or "oidc"\) section.*\[BRK_ERR_BROWSER_LOGIN_NOT_CONFIGURED\]/);
  const global = capture();
  t.equal(await runCli(['logout', '--global', '--config', config, '--profile', 'okta'], global.io), 1);
  t.match(global.out.stderr, /\[BRK_ERR_GLOBAL_SIGN_OUT_UNSUPPORTED\]/);
});
