import t from 'tap';
import {
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import {
  CognitoIdentityClient,
  GetCredentialsForIdentityCommand,
  GetIdCommand,
  NotAuthorizedException,
} from '@aws-sdk/client-cognito-identity';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromCognitoIdentityPool } from '@aws-sdk/credential-providers';
import { decodeJwt } from 'jose';
import { startLocalStack, type LocalStack } from '../../testkit/local-stack.js';

const ID_TOKEN_SECONDS = 60;
let stack: LocalStack;
let idp: CognitoIdentityProviderClient;
let identity: CognitoIdentityClient;

t.before(async () => {
  stack = await startLocalStack({ idTokenLifetimeSeconds: ID_TOKEN_SECONDS, credentialLifetimeSeconds: 900, newPasswordUser: true });
  t.comment(`startLocalStack took ${stack.startupMs} ms`);
  // Sign-in and both identity-pool calls are unsigned: the clients get no credentials.
  idp = new CognitoIdentityProviderClient({ region: stack.region, endpoint: stack.profile.endpoints.cognitoIdp, maxAttempts: 1 });
  identity = new CognitoIdentityClient({ region: stack.region, endpoint: stack.profile.endpoints.cognitoIdentity, maxAttempts: 1 });
});
t.teardown(async () => {
  idp.destroy();
  identity.destroy();
  await stack.stop();
});

async function signIn(username = stack.username, password = stack.password): Promise<string> {
  const out = await idp.send(
    new InitiateAuthCommand({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: stack.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  );
  const idToken = out.AuthenticationResult?.IdToken;
  if (!idToken) throw new Error(`no ID token: ${JSON.stringify(out)}`);
  return idToken;
}

t.test('returns a ready profile for the stack', async (t) => {
  t.match(stack.profile, {
    region: 'us-east-1',
    userPoolId: /^local_\w+$/,
    clientId: /^\w+$/,
    identityPoolId: /^us-east-1:[0-9a-f-]{36}$/,
    username: 'test-user',
    endpoints: { cognitoIdp: /^http:\/\/127\.0\.0\.1:\d+$/, cognitoIdentity: /^http:\/\/127\.0\.0\.1:\d+$/ },
  });
  t.equal(stack.identityPoolId, stack.emulator.identityPoolId);
  t.equal(stack.cognitoIdentityUrl, stack.emulator.url);
  t.equal(stack.stsUrl, stack.sts.url);
  t.ok(stack.startupMs < 15_000, `started in ${stack.startupMs} ms`);
});

t.test('cognito-local issues ID tokens whose iss matches its port and the Logins key', async (t) => {
  const claims = decodeJwt(await signIn());
  t.equal(claims.iss, `${stack.cognitoIdpUrl}/${stack.userPoolId}`);
  t.equal(claims.iss, stack.issuer);
  t.equal(stack.loginsKey, `${new URL(stack.cognitoIdpUrl).host}/${stack.userPoolId}`, 'Logins key = iss without scheme');
  t.equal(claims.aud, stack.clientId);
  t.equal(claims['token_use'], 'id');
  t.equal(claims['cognito:username'], stack.username);
  t.equal((claims.exp ?? 0) - (claims.iat ?? 0), ID_TOKEN_SECONDS, 'token lifetime in seconds, as configured');
});

t.test('a real ID token buys credentials through the real SDK, and STS accepts them', async (t) => {
  const token = await signIn();
  const Logins = { [stack.loginsKey]: token };
  const { IdentityId } = await identity.send(new GetIdCommand({ IdentityPoolId: stack.identityPoolId, Logins }));
  const out = await identity.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins }));
  const c = out.Credentials;
  t.ok(c?.Expiration instanceof Date);
  t.match(c?.AccessKeyId, /^ASIA[A-Z2-7]{16}$/);
  t.equal(c?.SecretKey?.length, 40);

  const sts = new STSClient({
    region: stack.region,
    endpoint: stack.stsUrl,
    maxAttempts: 1,
    credentials: { accessKeyId: c?.AccessKeyId ?? '', secretAccessKey: c?.SecretKey ?? '', sessionToken: c?.SessionToken ?? '' },
  });
  t.teardown(() => sts.destroy());
  const caller = await sts.send(new GetCallerIdentityCommand({}));
  t.match(caller.Arn, /^arn:aws:sts::123456789012:assumed-role\/[\w-]+\/CognitoIdentityCredentials$/);
  t.ok(stack.sts.acceptedAccessKeyIds().includes(c?.AccessKeyId ?? ''));
});

t.test("the SDK's own fromCognitoIdentityPool provider works against the emulator", async (t) => {
  const token = await signIn();
  const provider = fromCognitoIdentityPool({
    identityPoolId: stack.identityPoolId,
    logins: { [stack.loginsKey]: token },
    clientConfig: { region: stack.region, endpoint: stack.cognitoIdentityUrl, maxAttempts: 1 },
  });
  const sts = new STSClient({ region: stack.region, endpoint: stack.stsUrl, maxAttempts: 1, credentials: provider });
  t.teardown(() => sts.destroy());
  const caller = await sts.send(new GetCallerIdentityCommand({}));
  t.match(caller.Arn, /CognitoIdentityCredentials$/);
  const creds = await provider();
  t.equal(creds.secretAccessKey.length, 40, 'the provider renamed SecretKey to secretAccessKey');
});

t.test('a tampered cognito-local token is refused', async (t) => {
  const token = await signIn();
  const [header, payload, signature = ''] = token.split('.');
  const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
  await t.rejects(
    identity.send(new GetIdCommand({ IdentityPoolId: stack.identityPoolId, Logins: { [stack.loginsKey]: `${header}.${payload}.${flipped}` } })),
    NotAuthorizedException,
  );
});

t.test('the second user must set a new password first', async (t) => {
  const user = stack.newPasswordUser;
  if (!user) throw new Error('newPasswordUser missing');
  const first = await idp.send(
    new InitiateAuthCommand({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: stack.clientId,
      AuthParameters: { USERNAME: user.username, PASSWORD: user.temporaryPassword },
    }),
  );
  t.equal(first.ChallengeName, 'NEW_PASSWORD_REQUIRED');
  const answered = await idp.send(
    new RespondToAuthChallengeCommand({
      ClientId: stack.clientId,
      ChallengeName: 'NEW_PASSWORD_REQUIRED',
      Session: first.Session,
      ChallengeResponses: { USERNAME: user.username, NEW_PASSWORD: 'Brand-New-Pw-9' },
    }),
  );
  t.ok(answered.AuthenticationResult?.IdToken);
  t.ok(await signIn(user.username, 'Brand-New-Pw-9'));
});

t.test('createUser adds a user who can sign in', async (t) => {
  await stack.createUser('another-user', 'Another-Pw-1');
  const claims = decodeJwt(await signIn('another-user', 'Another-Pw-1'));
  t.equal(claims['cognito:username'], 'another-user');
});

t.test('stop() ends cognito-local and closes every server', async (t) => {
  const other = await startLocalStack();
  t.not(other.cognitoIdpUrl, stack.cognitoIdpUrl, 'stacks side by side get their own ports');
  t.not(other.issuer, stack.issuer);
  await other.stop();
  t.throws(() => process.kill(other.cognitoLocalPid, 0), { code: 'ESRCH' }, 'child process gone');
  for (const url of [other.cognitoIdpUrl, other.cognitoIdentityUrl, other.stsUrl]) {
    await t.rejects(fetch(url, { signal: AbortSignal.timeout(2000) }), `${url} closed`);
  }
  await other.stop(); // idempotent
});
