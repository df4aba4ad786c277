import t from 'tap';
import { pickSignInProfile } from '../../src/cli/cli-context.js';
import { parseConfig } from '../../src/config/load-config.js';

const PATHS = { configFile: '/cfg.json', stateDir: '/state' };
const owner = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
};
const config = parseConfig('/cfg.json', JSON.stringify({ profiles: { default: owner, admin: { signInFrom: 'default', customRoleArn: 'arn:aws:iam::111122223333:role/admins' } } }), PATHS);

t.test('login and logout on a signInFrom profile act on the profile it borrows from, and say so', async (t) => {
  const said: string[] = [];
  const profile = pickSignInProfile(config, 'admin', (line) => said.push(line));
  t.equal(profile.name, 'default');
  t.match(said.join(''), /Profile "admin" uses the sign-in of profile "default".*acting on "default"/);
});

t.test('a profile that signs in itself is used as it is, silently', async (t) => {
  const said: string[] = [];
  t.equal(pickSignInProfile(config, undefined, (line) => said.push(line)).name, 'default');
  t.same(said, []);
});
