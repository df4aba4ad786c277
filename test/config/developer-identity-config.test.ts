import t from 'tap';
import { parseConfig } from '../../src/config/load-config.js';
import { partitionOf } from '../../src/config/partition.js';
import { ConfigInvalidError } from '../../src/errors.js';

const PATHS = { configFile: '/home/u/.config/cognito-broker/config.json', stateDir: '/home/u/.local/state/cognito-broker' };
const POOL = 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666';
const developer = { region: 'eu-west-1', identityPoolId: POOL, developerIdentity: { command: ['/usr/local/bin/get-token', '--json'] } };

function parse(profiles: Record<string, unknown>) {
  return parseConfig('/cfg.json', JSON.stringify({ profiles }), PATHS).profiles;
}

function problems(profiles: Record<string, unknown>): string[] {
  try {
    parse(profiles);
  } catch (error) {
    if (error instanceof ConfigInvalidError) return error.problems.map((p) => `${p.path}: ${p.expected}`);
    throw error;
  }
  throw new Error('expected the config to be refused');
}

t.test('a developerIdentity profile: defaults, and the identity pool standing for the client', async (t) => {
  const profile = parse({ default: developer }).default;
  t.same(profile?.developerIdentity, { command: ['/usr/local/bin/get-token', '--json'], notSignedInExitCode: 77, timeoutSeconds: 60 });
  t.equal(profile?.userPoolId, 'cognito-identity.amazonaws.com');
  t.equal(profile?.clientId, POOL);
  t.equal(parse({ default: { ...developer, developerIdentity: { command: ['x'], notSignedInExitCode: 3 } } }).default?.developerIdentity?.notSignedInExitCode, 3);
});

t.test('a developerIdentity profile refuses user-pool keys, an empty command, and an exit code 0', async (t) => {
  t.match(problems({ default: { ...developer, userPoolId: 'eu-west-1_AbCdEf123', clientId: 'abc' } }), [/\$\.profiles\.default\.userPoolId: no "userPoolId" in a profile with "developerIdentity"/, /clientId/]);
  t.match(problems({ default: { ...developer, developerIdentity: { command: [] } } }), [/command: a program and its arguments/]);
  t.match(problems({ default: { ...developer, developerIdentity: { command: ['x'], notSignedInExitCode: 0 } } }), [/notSignedInExitCode: an exit code/]);
  t.match(problems({ default: { ...developer, developerIdentity: { command: 'get-token --json' } } }), [/command/], 'a shell line is not argv');
});

t.test('"flow": "basic" needs customRoleArn; its options need the basic flow', async (t) => {
  t.match(problems({ default: { ...developer, flow: 'basic' } }), [/customRoleArn: a value \(required with "flow": "basic"\)/]);
  t.match(problems({ default: { ...developer, roleSessionName: 'laptop' } }), [/roleSessionName: no "roleSessionName" without "flow": "basic"/]);
  const basic = parse({ default: { ...developer, flow: 'basic', customRoleArn: 'arn:aws:iam::123456789012:role/R', roleSessionName: 'me@laptop', sessionDurationSeconds: 7200 } }).default;
  t.same([basic?.flow, basic?.roleSessionName, basic?.sessionDurationSeconds], ['basic', 'me@laptop', 7200]);
  t.match(problems({ default: { ...developer, flow: 'basic', customRoleArn: 'arn:aws:iam::123456789012:role/R', sessionDurationSeconds: 60 } }), [/at least 900 seconds/]);
});

t.test('the China partition: cn regions take arn:aws-cn: roles, other regions refuse them', async (t) => {
  t.same(partitionOf('cn-north-1'), { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn' });
  t.same(partitionOf('cn-northwest-1'), { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn' });
  t.same(partitionOf('eu-west-1'), { name: 'aws', dnsSuffix: 'amazonaws.com' });
  const china = { region: 'cn-north-1', identityPoolId: 'cn-north-1:0b5f2f5e-1111-4222-8333-444455556666', developerIdentity: { command: ['x'] } };
  t.equal(parse({ default: { ...china, customRoleArn: 'arn:aws-cn:iam::123456789012:role/R' } }).default?.customRoleArn, 'arn:aws-cn:iam::123456789012:role/R');
  t.match(problems({ default: { ...china, customRoleArn: 'arn:aws:iam::123456789012:role/R' } }), [/customRoleArn: a role ARN of the region's partition: "arn:aws-cn:iam::…" for cn-north-1/]);
  t.match(problems({ default: { ...developer, customRoleArn: 'arn:aws-cn:iam::123456789012:role/R' } }), [/"arn:aws:iam::…" for eu-west-1/]);
  t.match(problems({ default: china, other: { signInFrom: 'default', customRoleArn: 'arn:aws:iam::123456789012:role/R' } }), [/\$\.profiles\.other\.customRoleArn: a role ARN of the region's partition/], 'a borrowing profile, by its owner\'s region');
});
