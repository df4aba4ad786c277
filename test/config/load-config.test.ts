import { mkdtemp, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CONFIG_MAX_BYTES, loadConfig, parseConfig } from '../../src/config/load-config.js';
import { resolveConfigFile } from '../../src/config/platform-paths.js';
import { ConfigInvalidError, ConfigNotFoundError } from '../../src/errors.js';

const PATHS = { configFile: '/home/u/.config/cognito-broker/config.json', stateDir: '/home/u/.local/state/cognito-broker' };

const profile = {
  region: 'ap-northeast-1',
  userPoolId: 'ap-northeast-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'ap-northeast-1:0b5f2f5e-1111-4222-8333-444455556666',
};

function problems(text: string) {
  try {
    parseConfig('/cfg.json', text, PATHS);
  } catch (error) {
    if (error instanceof ConfigInvalidError) return error;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

t.test('a minimal config gets defaults and is frozen', async (t) => {
  const config = parseConfig('/cfg.json', JSON.stringify({ profiles: { work: profile } }), PATHS);
  t.same(config.server, { host: '127.0.0.1', port: 9911, tokenFile: join(PATHS.stateDir, 'endpoint-token'), allowNonLoopback: false });
  t.equal(config.defaultProfile, 'work', 'the only profile is the default');
  t.equal(config.profiles.work?.name, 'work');
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.profiles.work));
});

t.test('config.example.json is a valid config without traps: no emulator endpoint, no example path, no example user or role', async (t) => {
  const config = await loadConfig({ flag: 'config.example.json', paths: PATHS });
  t.equal(config.defaultProfile, 'default');
  t.equal(config.secretStore, 'keychain');
  for (const profile of Object.values(config.profiles)) t.equal(profile.endpoints, undefined, `${profile.name}: AWS's own endpoints`);
  t.equal(config.server.tokenFile, join(PATHS.stateDir, 'endpoint-token'), 'the token file where the platform keeps it');
  t.equal(config.profiles.default?.username, undefined, 'login asks who');
  t.equal(config.profiles.default?.customRoleArn, undefined, 'the pool\'s own role');
  t.equal(config.server.allowNonLoopback, false, 'the example keeps the endpoint on loopback');
  const raw = JSON.parse(await readFile('config.example.json', 'utf8')) as { server: Record<string, string> };
  t.match(raw.server['//allowNonLoopback'], /WARNING.*plain HTTP/, 'and warns what allowNonLoopback costs');
});

t.test('config.local.example.json is a valid config for the emulators on this machine', async (t) => {
  const config = await loadConfig({ flag: 'config.local.example.json', paths: PATHS });
  t.same(config.profiles.default?.endpoints, { cognitoIdp: 'http://127.0.0.1:9229', cognitoIdentity: 'http://127.0.0.1:9230' });
  t.equal(config.secretStore, 'file', 'a test sign-in stays out of the keychain');
});

t.test('a bad field names the file, the JSON path and what was expected', async (t) => {
  const error = problems(JSON.stringify({ server: { port: 'x' }, profiles: { default: { ...profile, region: 'Tokyo', extra: 1 } } }));
  t.match(error.message, /\/cfg\.json/);
  t.match(error.problems, [
    { path: '$.server.port', expected: /a number \(found string "x"\)/ },
  ]);
  t.ok(error.problems.some((p) => p.path === '$.profiles.default.region' && /AWS region/.test(p.expected)));
  t.ok(error.problems.some((p) => p.path === '$.profiles.default' && /no key "extra"/.test(p.expected)));
  t.equal(error.code, 'BRK_ERR_CONFIG_INVALID');
});

t.test('missing keys are named', async (t) => {
  const { userPoolId: _, ...withoutPool } = profile;
  const error = problems(JSON.stringify({ profiles: { default: withoutPool } }));
  t.match(error.problems, [{ path: '$.profiles.default.userPoolId', expected: /required string/ }]);
});

t.test('invalid JSON, wrong root type and an empty profile list are refused', async (t) => {
  t.match(problems('{ "profiles": ').problems, [{ path: '$', expected: /valid JSON/ }]);
  t.match(problems('[]').problems, [{ path: '$', expected: /object/ }]);
  t.match(problems('{"profiles":{}}').problems, [{ path: '$.profiles', expected: /at least one profile/ }]);
});

t.test('a non-loopback host is refused', async (t) => {
  for (const host of ['0.0.0.0', '192.168.1.10', 'example.com', '::']) {
    const error = problems(JSON.stringify({ server: { host }, profiles: { default: profile } }));
    t.match(error.problems, [{ path: '$.server.host', expected: /loopback/ }], host);
  }
  for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
    t.equal(parseConfig('/c', JSON.stringify({ server: { host }, profiles: { default: profile } }), PATHS).server.host, host);
  }
});

t.test('defaultProfile must name a profile', async (t) => {
  const error = problems(JSON.stringify({ defaultProfile: 'other', profiles: { default: profile } }));
  t.match(error.problems, [{ path: '$.defaultProfile', expected: /name of a profile/ }]);
});

t.test('comment keys are ignored', async (t) => {
  const config = parseConfig('/c', JSON.stringify({ '//': 'hi', profiles: { default: { ...profile, '//region': 'note' } } }), PATHS);
  t.equal(config.profiles.default?.region, profile.region);
});

t.test('endpoints must be http(s) URLs', async (t) => {
  const error = problems(JSON.stringify({ profiles: { default: { ...profile, endpoints: { cognitoIdp: 'ftp://x' } } } }));
  t.match(error.problems, [{ path: '$.profiles.default.endpoints.cognitoIdp', expected: /http/ }]);
});

t.test('--config beats COGNITO_BROKER_CONFIG beats the platform default', async (t) => {
  t.equal(resolveConfigFile({ flag: '/a.json', env: { COGNITO_BROKER_CONFIG: '/b.json' }, paths: PATHS }), '/a.json');
  t.equal(resolveConfigFile({ env: { COGNITO_BROKER_CONFIG: '/b.json' }, paths: PATHS }), '/b.json');
  t.equal(resolveConfigFile({ env: {}, paths: PATHS }), PATHS.configFile);
});

t.test('a missing file, a directory and a huge file each get a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cb-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.rejects(loadConfig({ flag: join(dir, 'none.json'), paths: PATHS }), ConfigNotFoundError);
  await mkdir(join(dir, 'sub.json'));
  await t.rejects(loadConfig({ flag: join(dir, 'sub.json'), paths: PATHS }), { code: 'BRK_ERR_CONFIG_INVALID', message: /directory/ });
  await writeFile(join(dir, 'huge.json'), ' '.repeat(CONFIG_MAX_BYTES + 1));
  await t.rejects(loadConfig({ flag: join(dir, 'huge.json'), paths: PATHS }), { code: 'BRK_ERR_CONFIG_INVALID', message: /under/ });
});

t.test('a non-loopback host is accepted only with server.allowNonLoopback: true', async (t) => {
  for (const host of ['0.0.0.0', '192.168.1.10', 'broker.lan', '::']) {
    const refused = problems(JSON.stringify({ server: { host }, profiles: { default: profile } }));
    t.match(refused.problems, [{ path: '$.server.host', expected: /loopback.*allowNonLoopback/ }], `${host} refused by default`);
    const off = problems(JSON.stringify({ server: { host, allowNonLoopback: false }, profiles: { default: profile } }));
    t.match(off.problems, [{ path: '$.server.host' }], `${host} refused with allowNonLoopback: false`);
    const config = parseConfig('/c', JSON.stringify({ server: { host, allowNonLoopback: true }, profiles: { default: profile } }), PATHS);
    t.same([config.server.host, config.server.allowNonLoopback], [host, true], `${host} allowed when asked for`);
  }
  t.equal(parseConfig('/c', JSON.stringify({ profiles: { default: profile } }), PATHS).server.allowNonLoopback, false, 'off by default');
  for (const value of ['true', 1, null, []]) {
    const error = problems(JSON.stringify({ server: { host: '0.0.0.0', allowNonLoopback: value }, profiles: { default: profile } }));
    t.ok(error.problems.some((p) => p.path === '$.server.allowNonLoopback' && /boolean/.test(p.expected)), `allowNonLoopback: ${JSON.stringify(value)} is not a boolean`);
  }
});

t.test('loopback means 127.0.0.0/8 with real octets, ::1 or localhost', async (t) => {
  for (const host of ['127.0.0.256', '127.1', '127.0.0.1.evil.example', '0x7f.0.0.1', '::ffff:127.0.0.1', '[::1]', ' 127.0.0.1', '']) {
    const error = problems(JSON.stringify({ server: { host }, profiles: { default: profile } }));
    t.ok(error.problems.some((p) => p.path === '$.server.host'), `${JSON.stringify(host)} is not loopback`);
  }
  t.equal(parseConfig('/c', JSON.stringify({ server: { host: '127.255.255.254' }, profiles: { default: profile } }), PATHS).server.host, '127.255.255.254');
});

t.test('invalid JSON is located by line and column, without echoing the file', async (t) => {
  const error = problems('{\n  "profiles": {\n    "default": { "region": "eu-west-1", }\n  }\n}');
  t.match(error.problems, [{ path: '$', expected: /valid JSON.*line 3, column \d+/ }]);
  const binary = problems('\u001b[2J\u0000\u0007garbage');
  t.notMatch(binary.message, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no control characters reach the terminal');
  t.match(problems('{"profiles": {"default": {"region": "eu-').problems, [{ path: '$', expected: /valid JSON.*line 1, column/ }], 'a truncated file');
  t.match(problems('').problems, [{ path: '$', expected: /valid JSON/ }], 'an empty file');
});

t.test('a UTF-8 byte-order mark (Notepad) is accepted', async (t) => {
  t.equal(parseConfig('/c', `\uFEFF${JSON.stringify({ profiles: { default: profile } })}`, PATHS).profiles.default?.region, profile.region);
});

t.test('nesting 100,000 deep is a field error, not a stack overflow', async (t) => {
  const depth = 100_000;
  const error = problems(`{"profiles":{"default":{"endpoints":${'['.repeat(depth)}${']'.repeat(depth)}}}}`);
  t.ok(error.problems.some((p) => p.path === '$.profiles.default.endpoints' && /an object/.test(p.expected)));
  const deepComment = problems(`{"//": ${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}, "profiles": 1}`);
  t.match(deepComment.problems, [{ path: '$.profiles' }], 'a deep comment is skipped, not walked');
});

t.test('thousands of problems are cut to the first few and a count; long keys are cut too', async (t) => {
  const profiles = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`p${i}`, { region: 1 }]));
  const error = problems(JSON.stringify({ profiles, [`x${'k'.repeat(10_000)}`]: 1 }));
  t.ok(error.problems.length <= 21, `${error.problems.length} lines`);
  t.match(error.problems.at(-1), { expected: /and \d+ more problems/ });
  t.ok(error.message.length < 5_000, `the message stays short (${error.message.length} characters)`);
});

t.test('secretStore: keychain by default; another value names the choices', async (t) => {
  t.equal(parseConfig('/cfg.json', JSON.stringify({ profiles: { default: profile } }), PATHS).secretStore, 'keychain');
  t.equal(parseConfig('/cfg.json', JSON.stringify({ secretStore: 'file', profiles: { default: profile } }), PATHS).secretStore, 'file');
  t.match(problems(JSON.stringify({ secretStore: 'vault', profiles: { default: profile } })).problems, [
    { path: '$.secretStore', expected: '"keychain" (the OS keychain), "kernel" (the Linux kernel keyring, kept until reboot) or "file" (a 0600 file under the state directory)' },
  ]);
});

t.test('refreshTokenLifetime: a whole number and a unit, in milliseconds for the broker; a borrowing profile takes its owner\'s', async (t) => {
  const config = parseConfig('/cfg.json', JSON.stringify({ profiles: { work: { ...profile, refreshTokenLifetime: '30d' }, admin: { signInFrom: 'work' }, short: { ...profile, refreshTokenLifetime: '90m' } } }), PATHS);
  t.equal(config.profiles.work?.refreshTokenLifetimeMs, 30 * 86_400_000);
  t.equal(config.profiles.admin?.refreshTokenLifetimeMs, 30 * 86_400_000, 'the owner\'s');
  t.equal(config.profiles.short?.refreshTokenLifetimeMs, 90 * 60_000);
  t.notOk('refreshTokenLifetime' in (config.profiles.work as object), 'one name for it inside: the milliseconds');
  t.equal(parseConfig('/cfg.json', JSON.stringify({ profiles: { work: profile } }), PATHS).profiles.work?.refreshTokenLifetimeMs, undefined, 'absent: not known');

  t.match(problems(JSON.stringify({ profiles: { work: { ...profile, refreshTokenLifetime: '30 days' } } })).problems, [{ path: '$.profiles.work.refreshTokenLifetime', expected: /a whole number and a unit, s, m, h or d, such as "30d"/ }]);
  t.match(problems(JSON.stringify({ profiles: { work: { ...profile, refreshTokenLifetime: 30 } } })).problems, [{ path: '$.profiles.work.refreshTokenLifetime', expected: /a string \(found number 30\)/ }]);
  t.match(problems(JSON.stringify({ profiles: { work: { ...profile, refreshTokenLifetime: '4000d' } } })).problems, [{ path: '$.profiles.work.refreshTokenLifetime', expected: /at most 3660 days/ }]);
  t.match(problems(JSON.stringify({ profiles: { work: profile, admin: { signInFrom: 'work', refreshTokenLifetime: '1d' } } })).problems, [{ path: '$.profiles.admin.refreshTokenLifetime', expected: /no "refreshTokenLifetime" in a profile with "signInFrom"/ }]);
});

t.test('notify: a desktop notification by default; notify.command is an argv array, never a shell line', async (t) => {
  t.same(parseConfig('/cfg.json', JSON.stringify({ profiles: { work: profile } }), PATHS).notify, { desktop: true });
  const config = parseConfig('/cfg.json', JSON.stringify({ notify: { command: ['ntfy', 'publish', 'my topic'], desktop: false }, profiles: { work: profile } }), PATHS);
  t.same(config.notify, { command: ['ntfy', 'publish', 'my topic'], desktop: false });
  t.match(problems(JSON.stringify({ notify: { command: 'notify-send "$MSG"' }, profiles: { work: profile } })).problems, [{ path: '$.notify.command', expected: /an array \(found string/ }]);
  t.match(problems(JSON.stringify({ notify: { command: [] }, profiles: { work: profile } })).problems, [{ path: '$.notify.command', expected: /a program and its arguments.*an argv array, not a shell line/ }]);
  t.match(problems(JSON.stringify({ notify: { command: ['a\nb'] }, profiles: { work: profile } })).problems, [{ path: '$.notify.command[0]', expected: /without control characters/ }]);
  t.match(problems(JSON.stringify({ notify: { email: 'x' }, profiles: { work: profile } })).problems, [{ path: '$.notify', expected: /no key "email"/ }]);
});
