import { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetOpenIdTokenCommand, GetOpenIdTokenForDeveloperIdentityCommand } from '@aws-sdk/client-cognito-identity';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { decodeJwt } from 'jose';
import t from 'tap';
import { startIdentityPoolEmulator } from '../../../testkit/emulators/identity-pool-emulator.js';
import { startStsStub } from '../../../testkit/emulators/sts-stub.js';

const developer = { providerName: 'login.example.com', accessKeyId: 'AKIADEVELOPEREXAMPLE', secretKey: 'developer-secret-key-0123456789abcdef' };
let now = Date.now();
const emulator = await startIdentityPoolEmulator({ region: 'cn-north-1', providers: {}, developer, now: () => now });
const sts = await startStsStub({ credentials: emulator, now: () => now, webIdentity: { verify: (token) => emulator.openId.verify(token, emulator.identityPoolId) } });
t.teardown(async () => {
  await emulator.close();
  await sts.close();
});

const backend = (secretAccessKey = developer.secretKey) =>
  new CognitoIdentityClient({ region: 'cn-north-1', endpoint: emulator.url, credentials: { accessKeyId: developer.accessKeyId, secretAccessKey }, maxAttempts: 1 });
const unsigned = new CognitoIdentityClient({ region: 'cn-north-1', endpoint: emulator.url, credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' }, maxAttempts: 1 });
const LOGINS_KEY = 'cognito-identity.amazonaws.com';

async function developerToken(user: string, TokenDuration?: number) {
  const client = backend();
  try {
    return await client.send(new GetOpenIdTokenForDeveloperIdentityCommand({ IdentityPoolId: emulator.identityPoolId, Logins: { [developer.providerName]: user }, ...(TokenDuration ? { TokenDuration } : {}) }));
  } finally {
    client.destroy();
  }
}

t.test('GetOpenIdTokenForDeveloperIdentity: SigV4 with the developer\'s keys; one IdentityId per user; a token GetCredentialsForIdentity takes', async (t) => {
  const first = await developerToken('alice', 120);
  const again = await developerToken('alice');
  t.equal(again.IdentityId, first.IdentityId, 'one identity per developer user');
  t.not((await developerToken('bob')).IdentityId, first.IdentityId);
  const claims = decodeJwt(first.Token as string);
  t.same([claims.iss, claims.sub, claims.aud], ['https://cognito-identity.cn-north-1.amazonaws.com.cn', first.IdentityId, emulator.identityPoolId], 'iss of the China partition, sub the IdentityId, aud the pool');
  t.equal((claims.exp as number) - (claims.iat as number), 120, 'TokenDuration');
  const { Credentials } = await unsigned.send(new GetCredentialsForIdentityCommand({ IdentityId: first.IdentityId, Logins: { [LOGINS_KEY]: first.Token as string } }));
  t.ok(Credentials?.AccessKeyId && emulator.issued.has(Credentials.AccessKeyId), 'credentials for the developer identity');
  const other = await developerToken('bob');
  await t.rejects(unsigned.send(new GetCredentialsForIdentityCommand({ IdentityId: first.IdentityId, Logins: { [LOGINS_KEY]: other.Token as string } })), { name: 'NotAuthorizedException' }, 'another identity\'s token is refused');
});

t.test('the developer call must be signed with the developer\'s secret', async (t) => {
  const wrong = backend('not-the-secret');
  t.teardown(() => wrong.destroy());
  await t.rejects(wrong.send(new GetOpenIdTokenForDeveloperIdentityCommand({ IdentityPoolId: emulator.identityPoolId, Logins: { [developer.providerName]: 'alice' } })), { name: 'InvalidSignatureException' });
  await t.rejects(unsigned.send(new GetOpenIdTokenForDeveloperIdentityCommand({ IdentityPoolId: emulator.identityPoolId, Logins: { [developer.providerName]: 'alice' } })), { name: 'InvalidSignatureException' }, 'another key id');
});

t.test('an expired or forged token is refused', async (t) => {
  const { IdentityId, Token } = await developerToken('carol', 60);
  const forged = `${(Token as string).slice(0, -4)}AAAA`;
  await t.rejects(unsigned.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins: { [LOGINS_KEY]: forged } })), { name: 'NotAuthorizedException' });
  now += 61_000;
  await t.rejects(unsigned.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins: { [LOGINS_KEY]: Token as string } })), { name: 'NotAuthorizedException', message: /Token expired/ });
});

t.test('the basic flow: GetOpenIdToken for an identity, then AssumeRoleWithWebIdentity at the STS stub, which verifies it', async (t) => {
  const { IdentityId, Token } = await developerToken('dora');
  const openId = await unsigned.send(new GetOpenIdTokenCommand({ IdentityId, Logins: { [LOGINS_KEY]: Token as string } }));
  t.equal(decodeJwt(openId.Token as string).sub, IdentityId);
  const client = new STSClient({ region: 'cn-north-1', endpoint: sts.url, credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' }, maxAttempts: 1 });
  t.teardown(() => client.destroy());
  const assume = (token: string) => client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: 'arn:aws-cn:iam::123456789012:role/R', RoleSessionName: 'dora', WebIdentityToken: token }));
  const answer = await assume(openId.Token as string);
  t.equal(answer.AssumedRoleUser?.Arn, 'arn:aws-cn:sts::123456789012:assumed-role/R/dora');
  t.ok(sts.assumed.has(answer.Credentials?.AccessKeyId as string));
  await t.rejects(assume(`${(openId.Token as string).slice(0, -4)}AAAA`), { name: 'InvalidIdentityTokenException' });
});
