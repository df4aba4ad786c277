import t from 'tap';
import {
  CognitoIdentityClient,
  GetCredentialsForIdentityCommand,
  GetIdCommand,
  InvalidParameterException,
  NotAuthorizedException,
  ResourceNotFoundException,
  TooManyRequestsException,
} from '@aws-sdk/client-cognito-identity';
import {
  DEFAULT_AUTHENTICATED_ROLE_ARN,
  startIdentityPoolEmulator,
  type IdentityPoolEmulator,
} from '../../../testkit/emulators/identity-pool-emulator.js';
import { startTestIssuer, type TestIssuer } from '../../support/local-stack-issuer.js';

const REGION = 'eu-west-1';
const ADMIN_ROLE = 'arn:aws:iam::123456789012:role/admins';
const READER_ROLE = 'arn:aws:iam::123456789012:role/readers';

let issuer: TestIssuer;
let emulator: IdentityPoolEmulator;
let client: CognitoIdentityClient;
let clockOffsetMs = 0;

t.before(async () => {
  issuer = await startTestIssuer();
  emulator = await startIdentityPoolEmulator({
    region: REGION,
    providers: { [issuer.loginsKey]: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, clientIds: ['other-client', issuer.clientId] } },
    credentialLifetimeSeconds: 900,
    now: () => Date.now() + clockOffsetMs,
  });
  // Both operations are unsigned: no credentials given to the client at all.
  client = new CognitoIdentityClient({ region: REGION, endpoint: emulator.url, maxAttempts: 1 });
});
t.afterEach(() => {
  clockOffsetMs = 0;
});
t.teardown(async () => {
  client.destroy();
  await emulator.close();
  await issuer.close();
});

const logins = (token: string) => ({ [issuer.loginsKey]: token });

async function signIn(sub: string, claims = {}) {
  const token = await issuer.mintIdToken(sub, claims);
  const { IdentityId } = await client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins(token) }));
  return { token, identityId: IdentityId as string };
}

t.test('GetId and GetCredentialsForIdentity work through the real SDK client', async (t) => {
  const before = { ...emulator.calls };
  const { token, identityId } = await signIn('user-a');
  t.match(identityId, /^eu-west-1:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

  const started = Date.now();
  const out = await client.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token) }));
  t.equal(out.IdentityId, identityId);
  const creds = out.Credentials;
  t.match(creds?.AccessKeyId, /^ASIA[A-Z2-7]{16}$/);
  t.equal(creds?.SecretKey?.length, 40, 'the secret arrives as SecretKey, 40 characters');
  t.ok((creds?.SessionToken?.length ?? 0) > 500);
  t.ok(creds?.Expiration instanceof Date, 'the SDK turns epoch seconds into a Date');
  // The emulator issues at whole seconds (epoch seconds on the wire, as Cognito): the expiry is
  // 900 s after the second the call was answered in, somewhere between started and now.
  const expiresAt = creds?.Expiration?.getTime() ?? 0;
  const earliest = Math.floor(started / 1000) * 1000 + 900_000;
  const latest = Math.floor(Date.now() / 1000) * 1000 + 900_000;
  t.ok(expiresAt >= earliest && expiresAt <= latest, `lifetime follows credentialLifetimeSeconds (${expiresAt - started} ms after the call)`);

  const issued = emulator.lookupCredentials(creds?.AccessKeyId ?? '');
  t.match(issued, {
    secretKey: creds?.SecretKey,
    sessionToken: creds?.SessionToken,
    identityId,
    sub: 'user-a',
    roleArn: DEFAULT_AUTHENTICATED_ROLE_ARN,
  });
  t.equal(issued?.expiration.getTime(), creds?.Expiration?.getTime());
  t.same(emulator.calls, { ...before, GetId: before.GetId + 1, GetCredentialsForIdentity: before.GetCredentialsForIdentity + 1 });
});

t.test('GetId returns one stable IdentityId per subject', async (t) => {
  const first = await signIn('user-stable');
  const again = await signIn('user-stable');
  const other = await signIn('user-other');
  t.equal(again.identityId, first.identityId);
  t.not(other.identityId, first.identityId);
  t.equal(emulator.identities().get(first.identityId), 'user-stable');
});

t.test('every call issues fresh credentials', async (t) => {
  const { token, identityId } = await signIn('user-fresh');
  const a = await client.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token) }));
  const b = await client.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token) }));
  t.not(a.Credentials?.AccessKeyId, b.Credentials?.AccessKeyId);
  t.ok(emulator.issued.has(a.Credentials?.AccessKeyId ?? '') && emulator.issued.has(b.Credentials?.AccessKeyId ?? ''));
});

t.test('rejects a token whose signature does not verify', async (t) => {
  const forged = await issuer.mintIdToken('user-a', {}, { signWithOtherKey: true });
  await t.rejects(
    client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins(forged) })),
    NotAuthorizedException,
  );
  // A genuine token whose payload was edited after signing.
  const genuine = await issuer.mintIdToken('user-a');
  const [header, , signature] = genuine.split('.');
  const payload = Buffer.from(JSON.stringify({ sub: 'someone-else', token_use: 'id', aud: issuer.clientId, iss: issuer.issuer, exp: 9999999999 })).toString('base64url');
  await t.rejects(
    client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins(`${header}.${payload}.${signature}`) })),
    { name: 'NotAuthorizedException', message: /Couldn't verify signed token/ },
  );
});

t.test('rejects a token for another audience', async (t) => {
  const token = await issuer.mintIdToken('user-a', {}, { audience: 'not-our-client' });
  await t.rejects(client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins(token) })), {
    name: 'NotAuthorizedException',
    message: /Incorrect token audience/,
  });
});

t.test('rejects a token from another issuer under our Logins key', async (t) => {
  const token = await issuer.mintIdToken('user-a', {}, { issuer: 'http://127.0.0.1:1/elsewhere' });
  await t.rejects(client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins(token) })), {
    name: 'NotAuthorizedException',
    message: /Issuer doesn't match/,
  });
});

t.test('rejects an expired token, on GetId and on GetCredentialsForIdentity', async (t) => {
  const expired = await issuer.mintIdToken('user-a', {}, { expiresInSeconds: -5 });
  await t.rejects(client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins(expired) })), {
    name: 'NotAuthorizedException',
    message: /Token expired/,
  });
  // A token that was valid for GetId expires before GetCredentialsForIdentity (emulator clock moves on).
  const { token, identityId } = await signIn('user-expiring');
  clockOffsetMs = 2 * 3600 * 1000;
  await t.rejects(
    client.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token) })),
    NotAuthorizedException,
  );
});

t.test('rejects an access token and tokens from unknown providers', async (t) => {
  const access = await issuer.mintIdToken('user-a', { token_use: 'access' });
  await t.rejects(client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins(access) })), NotAuthorizedException);
  const token = await issuer.mintIdToken('user-a');
  await t.rejects(
    client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: { 'cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x': token } })),
    { name: 'NotAuthorizedException', message: /not from a supported provider/ },
  );
  await t.rejects(client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId })), {
    name: 'NotAuthorizedException',
    message: /Unauthenticated access is not supported/,
  });
  await t.rejects(
    client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins: logins('not-a-jwt') })),
    { name: 'NotAuthorizedException', message: /Invalid login token/ },
  );
});

t.test('answers ResourceNotFound for an unknown pool or identity', async (t) => {
  const token = await issuer.mintIdToken('user-a');
  await t.rejects(
    client.send(new GetIdCommand({ IdentityPoolId: 'eu-west-1:00000000-0000-0000-0000-000000000000', Logins: logins(token) })),
    ResourceNotFoundException,
  );
  await t.rejects(
    client.send(new GetCredentialsForIdentityCommand({ IdentityId: 'eu-west-1:00000000-0000-0000-0000-000000000000', Logins: logins(token) })),
    { name: 'ResourceNotFoundException', message: /Identity 'eu-west-1:0{8}-.*' not found/ },
  );
});

t.test('a deleted identity gets ResourceNotFound, and GetId then hands out a new one', async (t) => {
  const { token, identityId } = await signIn('user-deleted');
  emulator.deleteIdentities([identityId]);
  await t.rejects(
    client.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token) })),
    ResourceNotFoundException,
  );
  const again = await signIn('user-deleted');
  t.not(again.identityId, identityId);
});

t.test("refuses another user's identity", async (t) => {
  const owner = await signIn('user-owner');
  const intruder = await issuer.mintIdToken('user-intruder');
  await t.rejects(
    client.send(new GetCredentialsForIdentityCommand({ IdentityId: owner.identityId, Logins: logins(intruder) })),
    { name: 'NotAuthorizedException', message: /Logins don't match/ },
  );
  await t.rejects(client.send(new GetCredentialsForIdentityCommand({ IdentityId: owner.identityId })), {
    name: 'NotAuthorizedException',
    message: /forbidden/,
  });
});

t.test('CustomRoleArn is honoured only when it is one of the cognito:roles', async (t) => {
  const { token, identityId } = await signIn('user-roles', {
    'cognito:roles': [READER_ROLE, ADMIN_ROLE],
    'cognito:preferred_role': READER_ROLE,
  });
  const custom = await client.send(
    new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token), CustomRoleArn: ADMIN_ROLE }),
  );
  t.equal(emulator.lookupCredentials(custom.Credentials?.AccessKeyId ?? '')?.roleArn, ADMIN_ROLE);

  const preferred = await client.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token) }));
  t.equal(emulator.lookupCredentials(preferred.Credentials?.AccessKeyId ?? '')?.roleArn, READER_ROLE, 'no CustomRoleArn: the preferred role');

  await t.rejects(
    client.send(
      new GetCredentialsForIdentityCommand({
        IdentityId: identityId,
        Logins: logins(token),
        CustomRoleArn: 'arn:aws:iam::123456789012:role/not-granted',
      }),
    ),
    InvalidParameterException,
  );
  const plain = await signIn('user-no-roles');
  await t.rejects(
    client.send(new GetCredentialsForIdentityCommand({ IdentityId: plain.identityId, Logins: logins(plain.token), CustomRoleArn: ADMIN_ROLE })),
    InvalidParameterException,
    'a token without cognito:roles allows no CustomRoleArn',
  );
});

t.test('failNext injects faults that the SDK maps to its error classes', async (t) => {
  const { token, identityId } = await signIn('user-faults');
  emulator.failNext('GetCredentialsForIdentity', { type: 'TooManyRequestsException', message: 'Rate exceeded' }, 2);
  const send = () => client.send(new GetCredentialsForIdentityCommand({ IdentityId: identityId, Logins: logins(token) }));
  await t.rejects(send(), TooManyRequestsException);
  await t.rejects(send(), TooManyRequestsException);
  emulator.failNext('GetCredentialsForIdentity', { type: 'InternalErrorException', status: 500 });
  await t.rejects(send(), { name: 'InternalErrorException', $metadata: { httpStatusCode: 500 } });
  const ok = await send();
  t.ok(ok.Credentials?.AccessKeyId);
});

async function post(body: string, headers: Record<string, string> = {}) {
  const res = await fetch(emulator.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSCognitoIdentityService.GetId', ...headers },
    body,
  });
  return { status: res.status, contentType: res.headers.get('content-type'), json: (await res.json()) as Record<string, unknown> };
}

t.test('malformed requests get a clean 400 JSON error and the server keeps serving', async (t) => {
  t.match(await post('{not json'), { status: 400, contentType: 'application/x-amz-json-1.1', json: { __type: 'SerializationException' } });
  t.match(await post('[1,2]'), { status: 400, json: { __type: 'SerializationException' } });
  t.match(await post('{}', { 'x-amz-target': 'AWSCognitoIdentityService.DeleteIdentityPool' }), {
    status: 400,
    json: { __type: 'UnknownOperationException' },
  });
  t.match(await post('{}', { 'x-amz-target': '' }), { status: 400, json: { __type: 'UnknownOperationException' } });
  t.match(await post('{}'), { status: 400, json: { __type: 'InvalidParameterException', message: /identityPoolId/ } });
  t.match(await post(JSON.stringify({ IdentityPoolId: 42 })), { status: 400, json: { __type: 'SerializationException' } });
  t.match(await post(JSON.stringify({ IdentityPoolId: 'no colon' })), { status: 400, json: { __type: 'InvalidParameterException' } });
  t.match(await post(JSON.stringify({ IdentityPoolId: emulator.identityPoolId, Logins: { [issuer.loginsKey]: 7 } })), {
    status: 400,
    json: { __type: 'InvalidParameterException' },
  });
  t.match(await post(JSON.stringify({ IdentityPoolId: emulator.identityPoolId, Logins: 'token' })), {
    status: 400,
    json: { __type: 'InvalidParameterException' },
  });
  t.match(await post('x'.repeat(200_000)), { status: 413, json: { __type: 'SerializationException' } });
  const get = await fetch(`${emulator.url}/anything`);
  t.equal(get.status, 404);
  t.match(await get.json(), { __type: 'UnknownOperationException' });

  const { identityId } = await signIn('user-after-garbage');
  t.ok(identityId, 'still serving');
});

t.test('a provider whose JWKS is unreachable gives a retryable 5xx, not NotAuthorized', async (t) => {
  const lonely = await startTestIssuer('local_gone');
  const isolated = await startIdentityPoolEmulator({
    region: REGION,
    providers: { [lonely.loginsKey]: { issuer: lonely.issuer, jwksUri: 'http://127.0.0.1:1/jwks.json', clientIds: [lonely.clientId] } },
  });
  t.teardown(async () => {
    await isolated.close();
    await lonely.close();
  });
  const c = new CognitoIdentityClient({ region: REGION, endpoint: isolated.url, maxAttempts: 1 });
  t.teardown(() => c.destroy());
  const token = await lonely.mintIdToken('user-a');
  await t.rejects(c.send(new GetIdCommand({ IdentityPoolId: isolated.identityPoolId, Logins: { [lonely.loginsKey]: token } })), {
    name: 'InternalErrorException',
    $metadata: { httpStatusCode: 500 },
  });
});
