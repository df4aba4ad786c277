import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/run-cli.js';

const PROFILE = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
};

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cb-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('help, version and usage errors: exit codes 0 and 2, text on the right stream', async (t) => {
  t.match(await run([]), { code: 2, stdout: /Usage: cognito-broker <command>/ });
  t.match(await run(['--help']), { code: 0, stdout: /Commands:/ });
  t.match(await run(['--version']), { code: 0, stdout: /^\d+\.\d+\.\d+\n$/ });
  // Each command's help: its usage line and every option it takes, on stdout, exit 0.
  const flags: Record<string, readonly string[]> = {
    login: ['--profile', '--username', '--auth-flow', '--password-stdin', '--mfa-code', '--mfa-method', '--client-secret', '--no-remember-device', '--config'],
    serve: ['--config', '--log-level'],
    env: ['--profile', '--config'],
    logout: ['--profile', '--global', '--config'],
    status: ['--profile', '--json', '--table', '--config'],
    token: ['--profile', '--access', '--config'],
    exec: ['--profile', '--config', '-- COMMAND'],
    'credential-process': ['--profile', '--config', 'credential_process'],
    roles: ['--profile', '--json', '--config'],
    request: ['--profile', '--auth sigv4', '--auth id-token', '--auth access-token', '--bearer', '-X', '-H', '-d', '--service', '--region', '-v', '--max-time', '--config'],
    service: ['install', 'uninstall', 'status', '--config'],
  };
  for (const [command, names] of Object.entries(flags)) {
    for (const help of ['--help', '-h']) {
      const result = await run([command, help]);
      t.match(result, { code: 0, stderr: '', stdout: new RegExp(`^Usage: cognito-broker ${command} `) }, `${command} ${help}`);
      const missing = names.filter((name) => !new RegExp(`(^|[\\s\\[|,])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'm').test(result.stdout));
      t.same(missing, [], `${command} --help names each of its options`);
    }
  }
  const main = await run(['--help']);
  for (const command of Object.keys(flags)) t.match(main.stdout, new RegExp(`^  ${command}\\b`, 'm'), `the main help lists ${command}`);
  t.match(await run(['env', '--bogus']), { code: 2, stderr: /Unknown option '--bogus'.*See --help/ });
  t.match(await run(['frobnicate']), { code: 2, stderr: /unknown command "frobnicate"/ });
});

t.test('command names that are Object.prototype properties are unknown commands, not crashes', async (t) => {
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
    const result = await run([name]);
    t.equal(result.code, 2, name);
    t.match(result.stderr, /unknown command/, name);
    t.notMatch(result.stderr, /unexpected error|TypeError/, name);
  }
});

t.test('--profile naming an Object.prototype property is an unknown profile', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ profiles: { default: PROFILE } }));
  for (const name of ['toString', 'constructor', '__proto__']) {
    // login stops at the profile, before any prompt or keychain access.
    const result = await run(['login', '--config', config, '--profile', name, '--username', 'u', '--password-stdin']);
    t.equal(result.code, 1, name);
    t.match(result.stderr, /No profile named.*BRK_ERR_UNKNOWN_PROFILE/, name);
  }
});

t.test('a missing config is exit 78 with what to do', async (t) => {
  const dir = tempDir(t);
  const result = await run(['env', '--config', join(dir, 'none.json')]);
  t.equal(result.code, 78);
  t.match(result.stderr, /No config file at .*none\.json.*BRK_ERR_CONFIG_NOT_FOUND/);
});

t.test('env with no daemon, or a daemon.json that is not ours, says the daemon is not running', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ server: { port: 1 }, profiles: { default: PROFILE } }));
  const stateDir = join(dir, 'state', 'cognito-broker');
  const saved = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = join(dir, 'state');
  t.teardown(() => {
    if (saved === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = saved;
  });
  t.match(await run(['env', '--config', config]), { code: 1, stderr: /BRK_ERR_DAEMON_NOT_RUNNING/ });
  mkdirSync(stateDir, { recursive: true });
  for (const content of ['{}', '[]', 'null', '{"url": 5, "profiles": "x"}', '{"url":"file:///etc/passwd","profiles":[],"tokenFile":"x","defaultProfile":"d"}']) {
    writeFileSync(join(stateDir, 'daemon.json'), content);
    const result = await run(['env', '--config', config]);
    t.equal(result.code, 1, content);
    t.match(result.stderr, /BRK_ERR_DAEMON_NOT_RUNNING/, content);
    t.notMatch(result.stderr, /unexpected error/, content);
  }
});

t.test('serve refuses a token file another user could plant or read, before touching the keychain', async (t) => {
  const dir = tempDir(t);
  const shared = join(dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777); // like /tmp
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ server: { port: 0, tokenFile: join(shared, 'token') }, profiles: { default: PROFILE } }));
  const saved = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = join(dir, 'state');
  t.teardown(() => {
    if (saved === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = saved;
  });
  const result = await run(['serve', '--config', config, '--log-level', 'silent']);
  t.equal(result.code, 1);
  t.match(result.stderr, /Refusing to keep the endpoint token at .*shared\/token: its directory .* is writable by other users.*BRK_ERR_INSECURE_PATH/);
  t.equal(result.stdout, '', 'no export lines, no token printed');
});
