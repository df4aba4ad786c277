import t from 'tap';
import { parseConfig } from '../../src/config/load-config.js';
import { ConfigInvalidError } from '../../src/errors.js';

const PATHS = { configFile: '/home/u/.config/cognito-broker/config.json', stateDir: '/home/u/.local/state/cognito-broker' };
const owner = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
  username: 'alice',
  customRoleArn: 'arn:aws:iam::111122223333:role/owners',
  endpoints: { cognitoIdp: 'http://127.0.0.1:9229' },
};
const ADMIN = 'arn:aws:iam::111122223333:role/admins';

function problems(profiles: Record<string, unknown>): { path: string; expected: string }[] {
  try {
    parseConfig('/cfg.json', JSON.stringify({ profiles }), PATHS);
  } catch (error) {
    if (error instanceof ConfigInvalidError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the config to be refused');
}

t.test('a signInFrom profile takes every sign-in key from its owner, and its own role', async (t) => {
  const config = parseConfig('/cfg.json', JSON.stringify({ profiles: { admin: { signInFrom: 'default', customRoleArn: ADMIN }, default: owner } }), PATHS);
  t.same(Object.keys(config.profiles), ['admin', 'default'], 'the file\'s order');
  const admin = config.profiles.admin;
  t.match(admin, { name: 'admin', region: 'eu-west-1', userPoolId: owner.userPoolId, clientId: 'abc123', identityPoolId: owner.identityPoolId, username: 'alice', customRoleArn: ADMIN, endpoints: owner.endpoints });
  t.equal(admin?.signInFrom, config.profiles.default, 'the owner\'s own config');
  t.equal(config.defaultProfile, 'default');
  t.ok(Object.isFrozen(admin));
});

t.test('without customRoleArn it does not inherit the owner\'s; identityPoolId may differ', async (t) => {
  const other = 'eu-west-1:99999999-1111-4222-8333-444455556666';
  const config = parseConfig('/cfg.json', JSON.stringify({ profiles: { default: owner, pool2: { signInFrom: 'default', identityPoolId: other } } }), PATHS);
  t.equal(config.profiles.pool2?.customRoleArn, undefined);
  t.equal(config.profiles.pool2?.identityPoolId, other);
});

t.test('a signInFrom naming an unknown profile, itself, or another borrower is refused at its path', async (t) => {
  t.same(problems({ default: owner, x: { signInFrom: 'nope' } }), [{ path: '$.profiles.x.signInFrom', expected: 'the name of a profile in "profiles" (default)' }]);
  t.same(problems({ default: owner, x: { signInFrom: 'x' } }), [{ path: '$.profiles.x.signInFrom', expected: 'the name of another profile: a profile cannot use its own sign-in' }]);
  t.match(problems({ default: owner, a: { signInFrom: 'default' }, b: { signInFrom: 'a' } }), [{ path: '$.profiles.b.signInFrom', expected: /"a" uses the sign-in of "default" \(name "default" here\)/ }]);
});

t.test('sign-in keys in a signInFrom profile are refused with the reason; unknown keys as unknown; bad values by format', async (t) => {
  t.match(problems({ default: owner, x: { signInFrom: 'default', userPoolId: 'eu-west-1_X1', region: 'eu-west-1' } }), [
    { path: '$.profiles.x.userPoolId', expected: /no "userPoolId" in a profile with "signInFrom" \(it signs in as profile "default"/ },
    { path: '$.profiles.x.region', expected: /no "region"/ },
  ]);
  t.match(problems({ default: owner, x: { signInFrom: 'default', rolle: 1 } }), [{ path: '$.profiles.x', expected: /no key "rolle" \(unknown/ }]);
  t.match(problems({ default: owner, x: { signInFrom: 'default', customRoleArn: 'admins' } }), [{ path: '$.profiles.x.customRoleArn', expected: /IAM role ARN/ }]);
  t.match(problems({ default: owner, x: { signInFrom: 7 } }), [{ path: '$.profiles.x.signInFrom', expected: /a string/ }]);
});

t.test('an ordinary profile still reports every missing key', async (t) => {
  t.match(problems({ default: { region: 'eu-west-1' } }), [
    { path: '$.profiles.default.identityPoolId', expected: /required string/ },
  ]);
});
