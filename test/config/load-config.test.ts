import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CONFIG_MAX_BYTES, loadConfig, parseConfig, resolveConfigFile } from '../../src/config/load-config.js';
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
  t.same(config.server, { host: '127.0.0.1', port: 9911, tokenFile: join(PATHS.stateDir, 'endpoint-token') });
  t.equal(config.defaultProfile, 'work', 'the only profile is the default');
  t.equal(config.profiles.work?.name, 'work');
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.profiles.work));
});

t.test('config.example.json is a valid config', async (t) => {
  const config = await loadConfig({ flag: 'config.example.json', paths: PATHS });
  t.equal(config.defaultProfile, 'default');
  t.equal(config.profiles.default?.endpoints?.cognitoIdp, 'http://127.0.0.1:9229');
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
  await t.rejects(loadConfig({ flag: join(dir, 'none.json'), paths: PATHS }), ConfigNotFoundError);
  await mkdir(join(dir, 'sub.json'));
  await t.rejects(loadConfig({ flag: join(dir, 'sub.json'), paths: PATHS }), { code: 'BRK_ERR_CONFIG_INVALID', message: /directory/ });
  await writeFile(join(dir, 'huge.json'), ' '.repeat(CONFIG_MAX_BYTES + 1));
  await t.rejects(loadConfig({ flag: join(dir, 'huge.json'), paths: PATHS }), { code: 'BRK_ERR_CONFIG_INVALID', message: /under/ });
});
