import t from 'tap';
import { exitCode, formatTable, type ProfileReport, relative, type StatusReport } from '../../src/cli/status.js';
import { formatRoles, listRoles } from '../../src/cli/roles.js';
import { parseConfig } from '../../src/config/load-config.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const profile = (over: Partial<ProfileReport>): ProfileReport => ({
  profile: 'default', state: 'ready', signedIn: true, user: 'alice', signInMethod: 'password', signedInAt: '2026-03-01T08:00:00.000Z',
  signInFrom: null, customRoleArn: null, identityId: 'eu-west-1:abc', idTokenExpiresAt: '2026-03-01T12:52:00.000Z',
  credentialsExpireAt: '2026-03-01T12:47:00.000Z', lastRefreshAt: '2026-03-01T11:52:00.000Z', retryAt: null, lastError: null,
  upstreamCalls: { refresh: 3, getId: 1, getCredentials: 3 }, secretStore: null, shellError: null, ...over,
});
const running = { running: true as const, url: 'http://127.0.0.1:9911', pid: 42 };
const report = (profiles: ProfileReport[], daemon: StatusReport['daemon'] = running): StatusReport => ({ daemon, defaultProfile: 'default', profiles });

t.test('exit codes: 0 all ready, 3 a login needed, 4 no daemon, 5 not ready', async (t) => {
  t.equal(exitCode(report([profile({}), profile({ profile: 'b', state: 'refreshing-ahead' })])), 0);
  t.equal(exitCode(report([profile({}), profile({ profile: 'b', state: 'login-required' })])), 3);
  t.equal(exitCode(report([profile({ state: 'signed-out', signedIn: false })])), 3);
  t.equal(exitCode(report([profile({ state: 'daemon-not-running', signedIn: false })], { running: false, reason: 'x' })), 3, 'login first');
  t.equal(exitCode(report([profile({ state: 'daemon-not-running' })], { running: false, reason: 'x' })), 4);
  t.equal(exitCode(report([profile({ state: 'degraded' })])), 5);
  t.equal(exitCode(report([profile({ state: 'starting' })])), 5);
  t.equal(exitCode(report([profile({ signedIn: null })], { running: false, reason: 'x' })), 4, 'a locked keychain says nothing about the login');
  t.equal(exitCode(report([profile({ shellError: { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', message: 'no D-Bus' } })])), 0, 'what this shell cannot read does not change the code while the daemon answers');
});

t.test('the table keeps the daemon\'s state apart from what this shell could not read', async (t) => {
  const shellError = { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', message: 'The OS keychain is locked or unavailable (cannot connect to the session D-Bus).' };
  const text = formatTable(report([profile({ secretStore: 'keychain', shellError }), profile({ profile: 'work', shellError })]), NOW);
  t.equal(text.match(/^Note: this shell cannot read its keychain/gm)?.length, 1, 'one note for the same failure');
  t.match(text, /Note: this shell cannot read its keychain \(BRK_ERR_KEYCHAIN_UNAVAILABLE: The OS keychain is locked[^\n]*\); the daemon can, and what follows is the daemon's\.\n/);
  t.match(text, /\ndefault \*\s+ready\s+alice\s/, 'the daemon\'s user and state');
  t.notMatch(text, /last error/, 'no error on the profiles');
  t.match(text, /signed in with a password at 2026-03-01T08:00:00\.000Z, kept in the keychain/);
});

t.test('the table: one row per profile, relative times, details below', async (t) => {
  const text = formatTable(report([
    profile({}),
    profile({ profile: 'admin', signInFrom: 'default', customRoleArn: 'arn:aws:iam::1:role/a', state: 'degraded', retryAt: '2026-03-01T12:00:30.000Z', lastError: { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', message: 'down' } }),
  ]), NOW);
  t.match(text, /^Daemon: pid 42 at http:\/\/127\.0\.0\.1:9911\n\nPROFILE\s+STATE\s+USER\s+ID TOKEN\s+CREDENTIALS\s+LAST REFRESH\s+CALLS \(refresh\/GetId\/GetCredentials\)\n/);
  t.match(text, /\ndefault \*\s+ready\s+alice\s+in 52m\s+in 47m\s+8m ago\s+3\/1\/3\n/);
  t.match(text, /\nadmin\s+degraded\s+alice/);
  t.match(text, /admin:\n  signed in with a password at 2026-03-01T08:00:00.000Z\n  uses the sign-in of profile "default"\n  role arn:aws:iam::1:role\/a\n  IdentityId eu-west-1:abc\n  next retry in 30s\n  last error BRK_ERR_UPSTREAM_UNAVAILABLE: down\n/);
  t.match(formatTable(report([profile({ state: 'daemon-not-running', upstreamCalls: null, identityId: null })], { running: false, reason: 'No cognito-broker answers at X.' }), NOW), /Daemon: not running \(No cognito-broker answers at X\.\)[^]*daemon not running/);
});

t.test('relative times', async (t) => {
  t.equal(relative(null, NOW), '-');
  t.equal(relative('2026-03-01T12:00:20Z', NOW), 'in 20s');
  t.equal(relative('2026-03-01T11:00:00Z', NOW), '1h00m ago');
  t.equal(relative('2026-03-11T12:00:00Z', NOW), 'in 10d');
});

t.test('roles: the token\'s roles, the preferred one, and which profile of this sign-in uses which', async (t) => {
  const pool = { region: 'eu-west-1', userPoolId: 'eu-west-1_A1', clientId: 'c1', identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666' };
  const A = 'arn:aws:iam::111122223333:role/a';
  const B = 'arn:aws:iam::111122223333:role/b';
  const config = parseConfig('/c.json', JSON.stringify({ profiles: { default: pool, b: { signInFrom: 'default', customRoleArn: B }, other: pool } }), { configFile: '/c', stateDir: '/s' });
  const listing = listRoles(config, config.profiles.b!, { 'cognito:roles': [A, B], 'cognito:preferred_role': A, 'cognito:username': 'alice' });
  t.same(listing, { profile: 'b', user: 'alice', roles: [{ arn: A, preferred: true, usedBy: ['default'] }, { arn: B, preferred: false, usedBy: ['b'] }], preferredRole: A, profileRole: B });
  t.equal(formatRoles(listing), `${A}  preferred; used by: default\n${B}  used by: b\n`);
  const none = listRoles(config, config.profiles.default!, {});
  t.match(formatRoles(none), /names no roles/);
  const wrong = listRoles({ ...config, profiles: { ...config.profiles, b: { ...config.profiles.b!, customRoleArn: 'arn:aws:iam::1:role/x' } } }, { ...config.profiles.b!, customRoleArn: 'arn:aws:iam::1:role/x' }, { 'cognito:roles': [A] });
  t.match(formatRoles(wrong), /asks for arn:aws:iam::1:role\/x \(customRoleArn\), which is not one of the user's roles/);
});
