import t from 'tap';
import { isSecureUrl } from '../../src/config/loopback.js';
import { parseConfig } from '../../src/config/load-config.js';
import { ConfigInvalidError } from '../../src/errors.js';

const PATHS = { configFile: '/home/u/.config/cognito-broker/config.json', stateDir: '/home/u/.local/state/cognito-broker' };

const pool = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
};
const hostedUi = { domain: 'https://my-prefix.auth.eu-west-1.amazoncognito.com', redirectPort: 53682 };
const oidc = { issuer: 'https://login.example.com/tenant', clientId: 'cli-app', redirectPort: 53682 };
const oidcProfile = { region: pool.region, identityPoolId: pool.identityPoolId, oidc };

function parse(profile: unknown) {
  return parseConfig('/cfg.json', JSON.stringify({ profiles: { default: profile } }), PATHS).profiles.default;
}

function problems(profile: unknown): { path: string; expected: string }[] {
  try {
    parse(profile);
  } catch (error) {
    if (error instanceof ConfigInvalidError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the config to be refused');
}

t.test('hostedUi gets its defaults: /callback and the openid scope', async (t) => {
  const profile = parse({ ...pool, hostedUi });
  t.same(profile?.hostedUi, { ...hostedUi, redirectPath: '/callback', scopes: ['openid'] });
  t.ok(Object.isFrozen(profile?.hostedUi?.scopes));
  const custom = parse({ ...pool, hostedUi: { ...hostedUi, redirectPath: '/oauth/done', scopes: ['openid', 'email', 'aws.cognito.signin.user.admin'], identityProvider: 'Google' } });
  t.same(custom?.hostedUi?.scopes, ['openid', 'email', 'aws.cognito.signin.user.admin']);
  t.equal(custom?.hostedUi?.identityProvider, 'Google');
});

t.test('an oidc profile needs no user pool; its issuer and client stand in for them', async (t) => {
  const profile = parse(oidcProfile);
  t.equal(profile?.userPoolId, oidc.issuer, 'the keychain record is checked against the issuer');
  t.equal(profile?.clientId, oidc.clientId);
  t.same(profile?.oidc?.scopes, ['openid', 'offline_access'], 'offline_access asks for a refresh token');
  t.equal(profile?.oidc?.redirectPath, '/callback');
});

t.test('a profile without oidc still needs userPoolId and clientId, named like any missing key', async (t) => {
  const { userPoolId: _p, clientId: _c, ...neither } = pool;
  const found = problems(neither);
  t.match(found, [
    { path: '$.profiles.default.userPoolId', expected: /required string.*"oidc"/ },
    { path: '$.profiles.default.clientId', expected: /required string.*"oidc"/ },
  ]);
});

t.test('user-pool settings in an oidc profile are refused, each by its path', async (t) => {
  const found = problems({ ...oidcProfile, userPoolId: pool.userPoolId, clientId: 'x', hostedUi, username: 'alice', endpoints: { cognitoIdp: 'http://127.0.0.1:9229' } });
  for (const path of ['userPoolId', 'clientId', 'hostedUi', 'username', 'endpoints.cognitoIdp']) {
    t.ok(found.some((p) => p.path === `$.profiles.default.${path}` && /"oidc"/.test(p.expected)), `${path} is named`);
  }
  t.same(parse({ ...oidcProfile, endpoints: { cognitoIdentity: 'http://127.0.0.1:9230' } })?.endpoints, { cognitoIdentity: 'http://127.0.0.1:9230' }, 'the identity pool endpoint is fine');
});

t.test('every sign-in URL is https, or http only to this machine', async (t) => {
  for (const url of ['http://auth.example.com', 'ftp://x', 'https://x/?q=1', 'https://x/#f', 'https://user:pw@x', 'not a url', '', 'http://127.0.0.1.evil.com', 'http://10.0.0.1']) {
    t.notOk(isSecureUrl(url), url);
    t.ok(problems({ ...pool, hostedUi: { ...hostedUi, domain: url } }).some((p) => p.path === '$.profiles.default.hostedUi.domain' && /https:\/\//.test(p.expected)), `domain ${url}`);
    t.ok(problems({ ...oidcProfile, oidc: { ...oidc, issuer: url } }).some((p) => p.path === '$.profiles.default.oidc.issuer'), `issuer ${url}`);
  }
  for (const url of ['https://x.example.com', 'https://x.example.com/path/', 'http://127.0.0.1:9229', 'http://localhost:1', 'http://[::1]:80/p']) t.ok(isSecureUrl(url), url);
  const endpoints = problems({ ...oidcProfile, oidc: { ...oidc, endpoints: { authorization: 'http://idp.example.com/a', token: 'https://ok.example.com/t', revocation: 'x' } } });
  t.same(endpoints.map((p) => p.path).sort(), ['$.profiles.default.oidc.endpoints.authorization', '$.profiles.default.oidc.endpoints.revocation']);
});

t.test('the redirect port is fixed, scopes include openid, names are checked', async (t) => {
  for (const port of [0, -1, 65536, 1.5, '53682', null]) {
    t.ok(problems({ ...pool, hostedUi: { ...hostedUi, redirectPort: port } }).some((p) => p.path === '$.profiles.default.hostedUi.redirectPort'), `port ${JSON.stringify(port)}`);
  }
  t.match(problems({ ...pool, hostedUi: { ...hostedUi, redirectPort: 0 } }), [{ expected: /fixed TCP port/ }]);
  t.match(problems({ ...pool, hostedUi: { ...hostedUi, scopes: ['email'] } }), [{ path: '$.profiles.default.hostedUi.scopes', expected: /"openid"/ }]);
  t.match(problems({ ...pool, hostedUi: { ...hostedUi, scopes: ['openid', 'two words'] } }), [{ path: '$.profiles.default.hostedUi.scopes[1]', expected: /scope/ }]);
  t.match(problems({ ...pool, hostedUi: { ...hostedUi, scopes: [] } }), [{ path: '$.profiles.default.hostedUi.scopes' }]);
  t.match(problems({ ...pool, hostedUi: { ...hostedUi, redirectPath: 'callback' } }), [{ path: '$.profiles.default.hostedUi.redirectPath', expected: /starting with "\/"/ }]);
  t.match(problems({ ...pool, hostedUi: { ...hostedUi, redirectPath: '/cb?x=1' } }), [{ path: '$.profiles.default.hostedUi.redirectPath' }]);
  t.match(problems({ ...pool, hostedUi: { ...hostedUi, redirectUri: 'http://127.0.0.1/cb' } }), [{ path: '$.profiles.default.hostedUi', expected: /no key "redirectUri"/ }]);
  t.match(problems({ ...oidcProfile, oidc: { ...oidc, clientId: 'has space' } }), [{ path: '$.profiles.default.oidc.clientId' }]);
  t.match(problems({ ...oidcProfile, oidc: { ...oidc, authorizationParameters: { 'bad name': 'x' } } }), [{ path: '$.profiles.default.oidc.authorizationParameters["bad name"]' }]);
  t.match(problems({ ...oidcProfile, oidc: { ...oidc, loginsKey: 'https://x' } }), [{ path: '$.profiles.default.oidc.loginsKey' }]);
  t.match(problems({ ...oidcProfile, oidc: { ...oidc, clientSecret: 'x' } }), [{ path: '$.profiles.default.oidc', expected: /no key "clientSecret"/ }], 'a secret never goes in the config');
});

t.test('config.example.json shows a hosted-UI and an OIDC profile, both valid', async (t) => {
  const { loadConfig } = await import('../../src/config/load-config.js');
  const config = await loadConfig({ flag: 'config.example.json', paths: PATHS });
  t.ok(Object.values(config.profiles).some((p) => p.hostedUi), 'a hostedUi section');
  t.ok(Object.values(config.profiles).some((p) => p.oidc), 'an oidc profile');
});
