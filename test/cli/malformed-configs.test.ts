/**
 * Hundreds of generated malformed configs, each through the whole CLI (runCli in-process,
 * and a sample through the real compiled binary): every one must exit 78, name the file
 * and the JSON path of what is wrong, and print no stack trace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { runCli } from '../../src/cli/run-cli.js';
import { seededRandom } from '../support/seeded-random.js';
import { runCli as runBinary } from '../support/cli.js';

interface Case {
  readonly name: string;
  readonly content: string | Buffer;
  /** The JSON path the message must name, e.g. "$.profiles.default.region" ("$" for the file as a whole). */
  readonly path: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const PROFILE = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: '1example23456789abcdefghij',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
  username: 'alice',
  customRoleArn: 'arn:aws:iam::123456789012:role/Dev',
  endpoints: { cognitoIdp: 'http://127.0.0.1:9229', cognitoIdentity: 'http://127.0.0.1:9230' },
};
const VALID = {
  server: { host: '127.0.0.1', port: 9911, tokenFile: '/home/alice/.local/state/cognito-broker/endpoint-token', allowNonLoopback: false },
  defaultProfile: 'default',
  profiles: { default: PROFILE },
};


function withValue(path: readonly string[], value: Json | undefined): Json {
  const copy = structuredClone(VALID) as unknown as { [key: string]: Json };
  let target = copy;
  for (const key of path.slice(0, -1)) target = target[key] as { [key: string]: Json };
  const last = path.at(-1) as string;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return copy;
}

function jsonPath(path: readonly string[]): string {
  return `$${path.map((k) => `.${k}`).join('')}`;
}

function generateCases(): Case[] {
  const cases: Case[] = [];
  const json = (name: string, value: Json, path: string) => cases.push({ name, content: JSON.stringify(value, null, 2), path });
  const at = (path: string[], value: Json | undefined, name: string) => json(name, withValue(path, value), jsonPath(path));

  // Wrong types, at every field and every container.
  const strings = [['server', 'host'], ['server', 'tokenFile'], ['defaultProfile'], ...['region', 'userPoolId', 'clientId', 'identityPoolId', 'username', 'customRoleArn'].map((k) => ['profiles', 'default', k]), ['profiles', 'default', 'endpoints', 'cognitoIdp'], ['profiles', 'default', 'endpoints', 'cognitoIdentity']];
  for (const path of strings) {
    for (const wrong of [42, true, null, [], {}, 1.5] as Json[]) at(path, wrong, `${jsonPath(path)} = ${JSON.stringify(wrong)}`);
  }
  for (const wrong of ['9911', 1.5, -1, 65536, 1e12, true, null, [], {}] as Json[]) at(['server', 'port'], wrong, `port = ${JSON.stringify(wrong)}`);
  for (const wrong of ['true', 1, 0, null, []] as Json[]) at(['server', 'allowNonLoopback'], wrong, `allowNonLoopback = ${JSON.stringify(wrong)}`);
  for (const path of [['server'], ['profiles'], ['profiles', 'default'], ['profiles', 'default', 'endpoints']]) {
    for (const wrong of ['x', 7, true, [], [{}]] as Json[]) at(path, wrong, `${jsonPath(path)} = ${JSON.stringify(wrong)}`);
  }

  // Missing required keys.
  for (const key of ['region', 'userPoolId', 'clientId', 'identityPoolId']) at(['profiles', 'default', key], undefined, `missing ${key}`);
  at(['profiles'], undefined, 'missing profiles');
  json('no profiles at all', { profiles: {} }, '$.profiles');

  // Bad formats.
  const formats: Record<string, string[]> = {
    region: ['EU-WEST-1', 'eu_west_1', 'euwest1', '', 'eu-west-1 ', ' eu-west-1', 'eu-west-1\n', 'eu-west-', 'eu-west-one', 'ëu-west-1', 'eu-west-1; rm -rf /', 'e'.repeat(5000), 'eu-west-1\u202e'],
    userPoolId: ['eu-west-1', 'eu-west-1_', '_AbC', 'eu-west-1_abc!', 'eu-west-1 _AbC', 'eu-west-1_Ab-c', '', 'eu-west-1_ÄbC', '../../etc/passwd', 'eu-west-1_Ab\u0000'],
    identityPoolId: ['eu-west-1', 'eu-west-1:', ':0b5f2f5e', 'eu-west-1:XYZ', 'eu-west-1:0b5f 1111', 'eu-west-1/0b5f', 'eu-west-1:0B5F2F5E-1111', ''],
    customRoleArn: ['arn:aws:iam::12345:role/x', 'arn:aws:iam::123456789012:user/x', 'arn:aws:s3:::bucket', 'role/x', 'arn:aws:iam::123456789012:role/', 'arn:aws:iam:eu-west-1:123456789012:role/x', 'arn:aws:iam::123456789012:role/a b', ''],
    clientId: ['', 'a'.repeat(129), 'abc def', 'abc\u0000', 'äbc', 'abc/def'],
    username: ['', 'u'.repeat(129), 'ali\u001b[31mce'],
  };
  for (const [key, values] of Object.entries(formats)) {
    for (const value of values) at(['profiles', 'default', key], value, `${key} = ${JSON.stringify(value).slice(0, 40)}`);
  }
  for (const value of ['ftp://x', 'localhost:9229', 'not a url', '', 'file:///etc/passwd', 'javascript:alert(1)', 'http//x']) {
    at(['profiles', 'default', 'endpoints', 'cognitoIdp'], value, `cognitoIdp = ${value}`);
  }
  for (const value of ['0.0.0.0', '192.168.1.1', 'example.com', '127.0.0.256', '', ' ', '127.0.0.1 ', 'localhost\n', '::', '[::1]']) {
    at(['server', 'host'], value, `host = ${JSON.stringify(value)}`);
  }
  for (const value of ['', 'a\u0000b', 'x'.repeat(5000)]) at(['server', 'tokenFile'], value, `tokenFile = ${JSON.stringify(value).slice(0, 20)}`);
  for (const value of ['nope', '', 'bad name', '__proto__', 'toString']) at(['defaultProfile'], value, `defaultProfile = ${JSON.stringify(value)}`);
  for (const name of ['bad name', '-x', 'p'.repeat(65), 'ü', 'x/y', '.hidden', 'a\u0000']) {
    json(`profile name ${JSON.stringify(name).slice(0, 20)}`, { profiles: { [name]: PROFILE } }, '$.profiles[');
  }

  // Unknown keys at every level (and typos of real ones).
  const unknown: [string[], string][] = [
    [[], 'extra'], [[], 'Profiles'], [[], 'default_profile'], [['server'], 'hots'], [['server'], 'Port'], [['server'], 'allowNonLoopBack'],
    [['profiles', 'default'], 'userPoolID'], [['profiles', 'default'], 'clientSecret'], [['profiles', 'default'], 'password'], [['profiles', 'default'], 'Region'],
    [['profiles', 'default', 'endpoints'], 'cognitoIDP'], [['profiles', 'default', 'endpoints'], 'iam'], [['profiles', 'default', 'endpoints'], 'constructor'],
  ];
  for (const [path, key] of unknown) {
    const value = structuredClone(VALID) as unknown as { [key: string]: Json };
    let target = value;
    for (const k of path) target = target[k] as { [key: string]: Json };
    target[key] = 'x';
    json(`unknown key ${jsonPath([...path, key])}`, value, `${jsonPath(path)}: no key ${JSON.stringify(key)}`);
  }
  // "__proto__" cannot be built with an object literal; JSON.parse makes it an own key.
  const text = JSON.stringify(VALID);
  cases.push({ name: '__proto__ at the root', content: text.replace('{', '{"__proto__": {"polluted": 1},'), path: '$: no key "__proto__"' });
  cases.push({ name: '__proto__ in a profile', content: text.replace('"region"', '"__proto__": {"region": "x"}, "region"'), path: '$.profiles.default: no key "__proto__"' });

  // Invalid JSON.
  const invalid = [
    text.replace('}', ',}'), text.replace(/"/g, "'"), `/* comment */${text}`, `// comment\n${text}`, text.replace('"server"', 'server'),
    text.replace('9911', 'NaN'), text.replace('9911', 'Infinity'), text.replace('9911', '0x26b7'), text.replace('9911', '09911'), text.replace('9911', '+9911'),
    text.replace(':', '::'), text.slice(0, -1), `${text}}`, `${text}${text}`, '{}{}', text.replace('"eu-west-1"', '"eu-west-1\u0001"'),
    text.replace('false', 'False'), text.replace('false', 'undefined'), `[${text}`, '{"profiles": {"default": }}', '{,}', '{"a" 1}',
  ];
  invalid.forEach((content, i) => cases.push({ name: `invalid JSON #${i}`, content, path: '$' }));

  // Truncated files: cut a valid file at evenly spaced points.
  const pretty = JSON.stringify(VALID, null, 2);
  for (let i = 1; i <= 25; i++) {
    const cut = Math.floor((pretty.length * i) / 26);
    cases.push({ name: `truncated at ${cut} of ${pretty.length}`, content: pretty.slice(0, cut), path: '$' });
  }

  // Huge files.
  cases.push({ name: 'huge: a valid config padded past 1 MiB', content: `${pretty}${' '.repeat(1024 * 1024)}`, path: '$' });
  cases.push({ name: 'huge: 2 MiB of A', content: 'A'.repeat(2 * 1024 * 1024), path: '$' });
  at(['profiles', 'default', 'clientId'], 'c'.repeat(900_000), 'huge: a 900 KB clientId');
  json('huge: 20,000 unknown keys', { ...VALID, ...Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])) }, '$: no key "k0"');
  json('huge: 3,000 bad profiles', { profiles: Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`p${i}`, { region: i }])) }, '$.profiles.p0.region');

  // Wrong root types.
  for (const root of ['[]', '1', '"config"', 'null', 'true', '[{}]', `[${text}]`, '-0', '""']) cases.push({ name: `root ${root.slice(0, 20)}`, content: root, path: '$' });

  // Deep nesting.
  const deep = (n: number, open: string, close: string) => `${open.repeat(n)}${close.repeat(n)}`;
  cases.push({ name: 'endpoints: arrays 100,000 deep', content: text.replace(/"endpoints":\{[^}]*\}/, `"endpoints":${deep(100_000, '[', ']')}`), path: '$.profiles.default.endpoints' });
  cases.push({ name: 'server: objects 50,000 deep', content: text.replace(/"server":\{[^}]*\}/, `"server":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`), path: '$.server: no key "a"' });
  cases.push({ name: 'a comment holding 50,000 levels', content: text.replace('{', `{"//":${deep(50_000, '[', ']')},"x":1,`), path: '$: no key "x"' });
  cases.push({ name: 'unbalanced: 100,000 [', content: '['.repeat(100_000), path: '$' });

  // Binary garbage and wrong encodings.
  const random = seededRandom(0xc0ffee);
  for (let i = 0; i < 12; i++) {
    const bytes = Buffer.from(Array.from({ length: 16 + Math.floor(random() * 4000) }, () => Math.floor(random() * 256)));
    cases.push({ name: `random bytes #${i} (${bytes.length} B)`, content: bytes, path: '$' });
  }
  cases.push({ name: 'UTF-16LE with BOM', content: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), path: '$' });
  cases.push({ name: 'gzip of a valid config', content: gzipSync(text), path: '$' });
  cases.push({ name: 'a PNG header', content: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), path: '$' });
  cases.push({ name: 'NUL bytes', content: Buffer.alloc(64), path: '$' });
  cases.push({ name: 'terminal escapes', content: '\u001b]0;pwned\u0007\u001b[2J{', path: '$' });
  for (const blank of ['', '   \n\t', '\uFEFF']) cases.push({ name: `blank ${JSON.stringify(blank)}`, content: blank, path: '$' });

  // Random mutations of a valid file: one character replaced, inserted or deleted.
  const mutable = JSON.stringify(VALID);
  let made = 0;
  while (made < 25) {
    const at = Math.floor(random() * mutable.length);
    const ch = String.fromCharCode(32 + Math.floor(random() * 95));
    const kind = Math.floor(random() * 3);
    const content = kind === 0 ? mutable.slice(0, at) + ch + mutable.slice(at + 1) : kind === 1 ? mutable.slice(0, at) + ch + mutable.slice(at) : mutable.slice(0, at) + mutable.slice(at + 1);
    // Keep only mutations that break the JSON itself: whether a changed letter in a value is
    // still valid is the schema's business, covered above.
    try {
      JSON.parse(content);
      continue;
    } catch {
      cases.push({ name: `mutation #${made} (${['replace', 'insert', 'delete'][kind]} at ${at})`, content, path: '$' });
      made += 1;
    }
  }
  // Browser sign-in (hostedUi) and other OpenID Connect providers (oidc): every field.
  const hostedUi = { domain: 'https://p.auth.eu-west-1.amazoncognito.com', redirectPort: 53682 };
  const oidc = { issuer: 'https://login.example.com', clientId: 'app', redirectPort: 53683 };
  const { userPoolId: _pool, clientId: _client, username: _user, ...noPool } = PROFILE;
  const withHostedUi = (ui: Json) => ({ ...VALID, profiles: { default: { ...PROFILE, hostedUi: ui } } }) as unknown as Json;
  const withOidc = (o: Json, extra: Record<string, Json> = {}) => ({ ...VALID, profiles: { default: { ...noPool, oidc: o, ...extra } } }) as unknown as Json;
  const ui = '$.profiles.default.hostedUi';
  const op = '$.profiles.default.oidc';
  for (const domain of ['http://p.auth.eu-west-1.amazoncognito.com', 'p.auth.eu-west-1.amazoncognito.com', 'https://x/?a=1', 'ftp://x', '', 42] as Json[]) json(`hostedUi.domain = ${JSON.stringify(domain)}`, withHostedUi({ ...hostedUi, domain }), `${ui}.domain`);
  for (const port of [0, -1, 65536, '53682', 1.5, null] as Json[]) json(`hostedUi.redirectPort = ${JSON.stringify(port)}`, withHostedUi({ ...hostedUi, redirectPort: port }), `${ui}.redirectPort`);
  json('hostedUi without openid', withHostedUi({ ...hostedUi, scopes: ['email'] }), `${ui}.scopes`);
  json('hostedUi scope with a space', withHostedUi({ ...hostedUi, scopes: ['openid', 'a b'] }), `${ui}.scopes[1]`);
  json('hostedUi.redirectPath relative', withHostedUi({ ...hostedUi, redirectPath: 'cb' }), `${ui}.redirectPath`);
  json('hostedUi missing redirectPort', withHostedUi({ domain: hostedUi.domain }), `${ui}.redirectPort`);
  json('hostedUi unknown key', withHostedUi({ ...hostedUi, clientSecret: 'x' }), `${ui}: no key "clientSecret"`);
  json('hostedUi = "x"', withHostedUi('x'), ui);
  for (const issuer of ['http://login.example.com', 'https://u:p@login.example.com', 'login.example.com', ''] as Json[]) json(`oidc.issuer = ${JSON.stringify(issuer)}`, withOidc({ ...oidc, issuer }), `${op}.issuer`);
  json('oidc.clientId with a space', withOidc({ ...oidc, clientId: 'a b' }), `${op}.clientId`);
  json('oidc missing clientId', withOidc({ issuer: oidc.issuer, redirectPort: 1 }), `${op}.clientId`);
  json('oidc.endpoints.token over http', withOidc({ ...oidc, endpoints: { token: 'http://idp.example.com/t' } }), `${op}.endpoints.token`);
  json('oidc.loginsKey with a scheme', withOidc({ ...oidc, loginsKey: 'https://x' }), `${op}.loginsKey`);
  json('oidc with a userPoolId', withOidc(oidc, { userPoolId: PROFILE.userPoolId }), '$.profiles.default.userPoolId');
  json('oidc with a hostedUi', withOidc(oidc, { hostedUi }), '$.profiles.default.hostedUi');
  json('neither a user pool nor oidc', { ...VALID, profiles: { default: noPool } } as unknown as Json, '$.profiles.default.userPoolId');
  return cases;
}

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (s: string) => void (out.stdout += s), stderr: (s: string) => void (out.stderr += s) } };
}

const STACK_TRACE = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;

function checkReport(t: Test, c: Case, file: string, code: number | null, stdout: string, stderr: string): void {
  const failures: string[] = [];
  if (code !== 78) failures.push(`exit ${code}, not 78`);
  if (!stderr.includes(file)) failures.push('the file is not named');
  const pathShown = c.path.includes(':') ? stderr.includes(c.path) : c.path.endsWith('[') ? stderr.includes(`  ${c.path}`) : new RegExp(`^  ${escape(c.path)}: `, 'm').test(stderr);
  if (!pathShown) failures.push(`the path ${c.path} is not named`);
  if (!stderr.includes('[BRK_ERR_CONFIG_INVALID]')) failures.push('no BRK_ERR_CONFIG_INVALID');
  if (STACK_TRACE.test(stderr) || /unexpected error/i.test(stderr)) failures.push('a stack trace or an unexpected error');
  if (/[\u0000-\u0009\u000b-\u001f\u007f\u202a-\u202e]/.test(stderr)) failures.push('control characters on the terminal');
  if (stderr.length > 8_000) failures.push(`${stderr.length} characters of error`);
  if (stdout !== '') failures.push('something on stdout');
  t.same(failures, [], `${c.name}${failures.length ? `\n${stderr.slice(0, 1500)}` : ''}`);
}


function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const cases = generateCases();
const dir = mkdtempSync(join(tmpdir(), 'cb-bad-configs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const files = cases.map((c, i) => {
  const file = join(dir, `case-${String(i).padStart(3, '0')}.json`);
  writeFileSync(file, c.content);
  return file;
});

t.test(`${cases.length} generated malformed configs: each exits 78 naming the file and the JSON path, no stack trace (in-process)`, async (t) => {
  t.ok(cases.length >= 200, `${cases.length} cases`);
  for (const [i, c] of cases.entries()) {
    const file = files[i] as string;
    const { out, io } = capture();
    const code = await runCli(['env', '--config', file], io);
    checkReport(t, c, file, code, out.stdout, out.stderr);
  }
});

t.test('a sample through the real binary: same exit code and message, no stack trace', async (t) => {
  const sample = [0, 40, 80, 120, 160, 200, cases.length - 1]
    .concat(cases.map((c, i) => (/deep|huge: 2 MiB|random bytes #0|terminal escapes/.test(c.name) ? i : -1)).filter((i) => i >= 0))
    .slice(0, 10);
  t.ok(sample.length >= 10, `${sample.length} cases through the binary`);
  await Promise.all(sample.map(async (i) => {
    const c = cases[i] as Case;
    const file = files[i] as string;
    const result = await runBinary(['env', '--config', file], { PATH: process.env.PATH });
    checkReport(t, c, file, result.code, result.stdout, result.stderr);
  }));
});

t.test('the same config errors from every command that reads a config', async (t) => {
  const file = files[0] as string;
  for (const command of [['env'], ['serve'], ['login', '--password-stdin'], ['login', '--browser'], ['logout']]) {
    const { out, io } = capture();
    const code = await runCli([...command, '--config', file], io);
    checkReport(t, cases[0] as Case, file, code, out.stdout, out.stderr);
  }
});
