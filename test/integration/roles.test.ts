import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { startSigv4Verifier } from '../support/sigv4-verifier.js';
import { waitFor } from '../../testkit/wait.js';

const ADMIN = 'arn:aws:iam::111122223333:role/admins';
const READER = 'arn:aws:iam::111122223333:role/readers';
const TOKEN_SECONDS = 20;

t.test('roles, and one sign-in served under several roles at once (signInFrom), with refresh-token rotation', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv({
    idTokenLifetimeSeconds: TOKEN_SECONDS,
    userPoolEmulator: {
      primary: true,
      // Rotation with no grace period: a second sender of the refresh token would be refused.
      client: { rotation: true, gracePeriodSeconds: 0 },
      user: { groups: [{ name: 'admins', roleArn: ADMIN, precedence: 1 }, { name: 'readers', roleArn: READER, precedence: 5 }] },
    },
  });
  t.teardown(() => be.stop());
  const upstream = be.stack.userPoolEmulator?.emulator;
  if (!upstream) throw new Error('no user-pool emulator');
  const config = JSON.parse(readFileSync(be.configFile, 'utf8')) as { profiles: Record<string, unknown> };
  config.profiles.admin = { signInFrom: 'default', customRoleArn: ADMIN };
  config.profiles.reader = { signInFrom: 'default', customRoleArn: READER };
  writeFileSync(be.configFile, JSON.stringify(config));

  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);

  const listed = await runCli(['roles'], be.env);
  t.equal(listed.code, 0, listed.stderr);
  t.equal(listed.stdout, `${ADMIN}   preferred; used by: default, admin\n${READER}  used by: reader\n`, 'each role, the preferred one, and the profiles using it');
  const json = await runCli(['roles', '--profile', 'reader', '--json'], be.env);
  t.same(JSON.parse(json.stdout), {
    profile: 'reader',
    user: be.stack.username,
    roles: [{ arn: ADMIN, preferred: true, usedBy: ['default', 'admin'] }, { arn: READER, preferred: false, usedBy: ['reader'] }],
    preferredRole: ADMIN,
    profileRole: READER,
  });

  // Without a daemon: a borrowing profile signs with its own role, in-process.
  const verifier = await startSigv4Verifier(be.stack.emulator, { service: 'execute-api', region: be.stack.region });
  t.teardown(() => verifier.close());
  const sigv4 = ['--service', 'execute-api', '--region', be.stack.region, `${verifier.url}/prod/x`];
  const asReader = await runCli(['request', '--profile', 'reader', ...sigv4], be.env);
  t.equal(asReader.code, 0, asReader.stderr);
  t.match(JSON.parse(asReader.stdout), { roleArn: READER });
  // credential-process for a profile that names its role: AccountId too, from the role's ARN.
  const readerProcess = await runCli(['credential-process', '--profile', 'reader'], be.env);
  t.equal(readerProcess.code, 0, readerProcess.stderr);
  const rp = JSON.parse(readerProcess.stdout) as { AccessKeyId: string; AccountId?: string };
  t.same(Object.keys(rp), ['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration', 'AccountId'], 'credential-process, in-process: AccountId last');
  t.equal(rp.AccountId, '111122223333');
  t.equal(be.stack.emulator.issued.get(rp.AccessKeyId)?.roleArn, READER, 'credentials for the reader role');
  const ownProcess = JSON.parse((await runCli(['credential-process'], be.env)).stdout) as Record<string, unknown>;
  t.notOk('AccountId' in ownProcess, 'no customRoleArn: no AccountId (the preferred role is not known before the call)');

  // The daemon: three profiles, one sign-in, one refresh stream.
  const refreshesBefore = upstream.calls.GetTokensFromRefreshToken + upstream.calls.InitiateAuth;
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  await waitFor('all ready', () => runCli(['status', '--json'], be.env), (r) => r.code === 0);
  const base = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '');
  const auth = { authorization: serve.master() };
  const get = async (path: string) => (await (await fetch(`${base}${path}`, { headers: auth })).json()) as { AccessKeyId: string; AccountId?: string };
  const [own, admin, reader] = await Promise.all(['/credentials', '/profiles/admin/credentials', '/profiles/reader/credentials'].map(get));
  const issued = be.stack.emulator.issued;
  t.equal(issued.get(own?.AccessKeyId as string)?.roleArn, ADMIN, 'default: the preferred role');
  t.equal(issued.get(admin?.AccessKeyId as string)?.roleArn, ADMIN, 'admin: its customRoleArn');
  t.equal(issued.get(reader?.AccessKeyId as string)?.roleArn, READER, 'reader: its customRoleArn');
  t.not(admin?.AccessKeyId, reader?.AccessKeyId, 'credentials differ by role');
  t.equal(reader?.AccountId, '111122223333');
  t.equal(new Set([own, admin, reader].map((c) => issued.get(c?.AccessKeyId as string)?.identityId)).size, 1, 'one identity');

  // Several ID-token lifetimes: only the owner refreshes; every profile stays ready.
  await new Promise((resolve) => setTimeout(resolve, TOKEN_SECONDS * 1000 * 1.3));
  const status = await runCli(['status', '--json'], be.env);
  t.equal(status.code, 0, status.stdout);
  const profiles = (JSON.parse(status.stdout) as { profiles: { profile: string; signInFrom: string | null; customRoleArn: string | null; upstreamCalls: { refresh: number }; lastError: unknown }[] }).profiles;
  t.match(profiles, [
    { profile: 'default', state: 'ready', signInFrom: null, lastError: null },
    { profile: 'admin', state: 'ready', signInFrom: 'default', customRoleArn: ADMIN, lastError: null },
    { profile: 'reader', state: 'ready', signInFrom: 'default', customRoleArn: READER, lastError: null },
  ]);
  const ownerRefreshes = profiles[0]?.upstreamCalls.refresh ?? 0;
  t.ok(ownerRefreshes >= 2, `the owner refreshed across lifetimes (${ownerRefreshes})`);
  t.equal(upstream.calls.GetTokensFromRefreshToken + upstream.calls.InitiateAuth - refreshesBefore, ownerRefreshes, 'every refresh the user pool saw was the owner\'s');
  const idTokens = await Promise.all(['/token', '/profiles/admin/token', '/profiles/reader/token'].map(async (p) => ((await (await fetch(`${base}${p}`, { headers: auth })).json()) as { IdToken: string }).IdToken));
  t.equal(new Set(idTokens).size, 1, 'one ID token, shared');
  const roleCheck = await runCli(['request', '--profile', 'admin', ...sigv4], be.env);
  t.match(JSON.parse(roleCheck.stdout), { roleArn: ADMIN }, 'request --profile admin through the daemon');
  const adminProcess = JSON.parse((await runCli(['credential-process', '--profile', 'admin'], be.env)).stdout) as { AccessKeyId: string; AccountId?: string };
  // (Compared by role, not key: the daemon may have renewed them since the fetch above.)
  t.same([issued.get(adminProcess.AccessKeyId)?.roleArn, adminProcess.AccountId], [ADMIN, '111122223333'], 'credential-process --profile admin through the daemon: the admin role\'s credentials and AccountId');
  t.notMatch(serve.stderr(), /RefreshTokenReuse|"level":50/, 'no refresh-token reuse, no error in the daemon log');

  // logout of the owner: the borrowing profiles follow it.
  t.equal((await runCli(['logout'], be.env)).code, 0);
  const after = await waitFor('signed out', () => runCli(['status', '--json'], be.env), (r) => r.code === 3 && (JSON.parse(r.stdout) as { profiles: { state: string }[] }).profiles.every((p) => p.state === 'signed-out'));
  t.match(JSON.parse(after.stdout), { profiles: [{ state: 'signed-out' }, { state: 'signed-out' }, { state: 'signed-out', signedIn: false }] });
  t.equal(await serve.stop(), 0);
});

t.test('signInFrom config errors name the file and field', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const base = JSON.parse(readFileSync(be.configFile, 'utf8')) as { profiles: Record<string, unknown> };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ x: { signInFrom: 'nope' } }, /\$\.profiles\.x\.signInFrom: the name of a profile in "profiles" \(default\)/],
    [{ x: { signInFrom: 'x' } }, /\$\.profiles\.x\.signInFrom: the name of another profile: a profile cannot use its own sign-in/],
    [{ x: { signInFrom: 'default', region: 'eu-west-1' } }, /\$\.profiles\.x\.region: no "region" in a profile with "signInFrom"/],
  ];
  for (const [extra, expected] of cases) {
    writeFileSync(be.configFile, JSON.stringify({ ...base, profiles: { ...base.profiles, ...extra } }));
    const result = await runCli(['status'], be.env);
    t.equal(result.code, 78);
    t.match(result.stderr, new RegExp(`Invalid config in ${be.configFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\n[^]*${expected.source}`));
  }
});
