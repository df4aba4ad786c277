import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { closeServer, listen } from '../../testkit/http.js';
import { createCognitoClients } from '../../src/cognito/create-cognito-clients.js';
import { secretHash } from '../../src/cognito/secret-hash.js';
import type { UserPoolClient } from '../../src/cognito/user-pool-client.js';
import type { ProfileConfig } from '../../src/config/config.js';

interface Received {
  readonly op: string;
  readonly body: Record<string, unknown>;
}
type Answer = { status?: number; body: unknown } | ((received: Received) => { status?: number; body: unknown });

/**
 * A user pool on the wire that answers each operation from a script, and records what the
 * real AWS SDK sent: the shapes of the requests are what these tests check. The flows
 * themselves run against the user-pool emulator in test/integration/.
 */
async function wirePool(t: Test, answers: Partial<Record<string, Answer | Answer[]>>) {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const op = String(req.headers['x-amz-target']).split('.')[1] ?? '';
      const r = { op, body: JSON.parse(text || '{}') as Record<string, unknown> };
      received.push(r);
      const entry = answers[op];
      const answer = Array.isArray(entry) ? entry.shift() : entry;
      const out = typeof answer === 'function' ? answer(r) : (answer ?? { status: 400, body: { __type: 'UnknownOperationException', message: `no answer for ${op}` } });
      res.writeHead(out.status ?? 200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(out.body));
    });
  });
  const { url } = await listen(server, '127.0.0.1', 0);
  const profile: ProfileConfig = {
    name: 'work',
    region: 'eu-west-1',
    userPoolId: 'eu-west-1_Pool123',
    clientId: 'client123',
    identityPoolId: 'eu-west-1:11111111-2222-3333-4444-555555555555',
    endpoints: { cognitoIdp: url },
  };
  const clients = createCognitoClients(profile);
  t.teardown(async () => {
    clients.destroy();
    await closeServer(server);
  });
  return { received, userPool: clients.userPool as UserPoolClient };
}

function idToken(claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ iss: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool123', iat: now, exp: now + 3600, 'cognito:username': 'internal-id', ...claims })}.c2ln`;
}

const result = (extra: Record<string, unknown> = {}) => ({ AuthenticationResult: { IdToken: idToken(), AccessToken: 'access-token', ExpiresIn: 3600, TokenType: 'Bearer', ...extra } });
const unsupported = (op: string) => ({ status: 500, body: { __type: 'CognitoLocal#Unsupported', message: `Cognito Local unsupported feature: Unsupported x-amz-target header "${op}"` } });

t.test('refresh uses GetTokensFromRefreshToken with the raw secret and device key, and returns a rotated refresh token', async (t) => {
  const pool = await wirePool(t, { GetTokensFromRefreshToken: [{ body: result({ RefreshToken: 'refresh-2' }) }, { body: result() }] });
  const rotated = await pool.userPool.refresh({ refreshToken: 'refresh-1', cognitoUsername: 'internal-id', clientSecret: 'shh', deviceKey: 'dev-1' });
  t.equal(rotated.refreshToken, 'refresh-2');
  t.equal(rotated.accessToken, 'access-token');
  t.same(pool.received[0], { op: 'GetTokensFromRefreshToken', body: { ClientId: 'client123', RefreshToken: 'refresh-1', ClientSecret: 'shh', DeviceKey: 'dev-1' } });
  const plain = await pool.userPool.refresh({ refreshToken: 'refresh-2' });
  t.equal(plain.refreshToken, undefined, 'no rotation: no new refresh token');
  t.same(pool.received[1]?.body, { ClientId: 'client123', RefreshToken: 'refresh-2' }, 'no secret or device fields when there are none');
});

t.test('against a server without GetTokensFromRefreshToken (cognito-local\'s 500 Unsupported), refresh falls back to REFRESH_TOKEN_AUTH once and remembers it', async (t) => {
  const pool = await wirePool(t, { GetTokensFromRefreshToken: unsupported('GetTokensFromRefreshToken'), InitiateAuth: { body: result() } });
  const request = { refreshToken: 'refresh-1', cognitoUsername: 'internal-id', clientSecret: 'shh', deviceKey: 'dev-1' };
  await pool.userPool.refresh(request);
  await pool.userPool.refresh(request);
  t.same(pool.received.map((r) => r.op), ['GetTokensFromRefreshToken', 'InitiateAuth', 'InitiateAuth'], 'asked once, then not again');
  t.same(pool.received[1]?.body, {
    AuthFlow: 'REFRESH_TOKEN_AUTH',
    ClientId: 'client123',
    AuthParameters: { REFRESH_TOKEN: 'refresh-1', SECRET_HASH: secretHash('internal-id', 'client123', 'shh'), DEVICE_KEY: 'dev-1' },
  }, 'SECRET_HASH of cognito:username, and DEVICE_KEY');
});

t.test('REFRESH_TOKEN_AUTH with a client secret: without the pool\'s name for the user, SECRET_HASH is of the stored user name; without any name, login required and nothing sent', async (t) => {
  const pool = await wirePool(t, { GetTokensFromRefreshToken: unsupported('GetTokensFromRefreshToken'), InitiateAuth: { body: result() } });
  await pool.userPool.refresh({ refreshToken: 'refresh-1', username: 'alice', clientSecret: 'shh' });
  t.same(pool.received[1]?.body, {
    AuthFlow: 'REFRESH_TOKEN_AUTH',
    ClientId: 'client123',
    AuthParameters: { REFRESH_TOKEN: 'refresh-1', SECRET_HASH: secretHash('alice', 'client123', 'shh') },
  }, 'the hash is never left out');
  await pool.userPool.refresh({ refreshToken: 'refresh-1', username: 'alice@example.com', cognitoUsername: 'internal-id', clientSecret: 'shh' });
  t.equal((pool.received[2]?.body.AuthParameters as Record<string, string>).SECRET_HASH, secretHash('internal-id', 'client123', 'shh'), 'cognito:username wins over the name typed');

  const sent = pool.received.length;
  await t.rejects(pool.userPool.refresh({ refreshToken: 'refresh-1', clientSecret: 'shh' }), { code: 'BRK_ERR_LOGIN_REQUIRED', message: /names no user to compute SECRET_HASH with.*cognito-broker login --profile work/ });
  t.equal(pool.received.length, sent, 'no refresh without the hash is sent');
});

t.test('the fallback also covers AWS\'s own UnknownOperationException and 501, but never an outage', async (t) => {
  const unknown = await wirePool(t, { GetTokensFromRefreshToken: { status: 400, body: { __type: 'UnknownOperationException', message: '' } }, InitiateAuth: { body: result() } });
  await unknown.userPool.refresh({ refreshToken: 'r' });
  t.same(unknown.received.map((r) => r.op), ['GetTokensFromRefreshToken', 'InitiateAuth']);

  const down = await wirePool(t, { GetTokensFromRefreshToken: { status: 500, body: { __type: 'InternalErrorException', message: 'oops' } } });
  await t.rejects(down.userPool.refresh({ refreshToken: 'r' }), { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', message: /GetTokensFromRefreshToken/ });
  t.same(down.received.map((r) => r.op), ['GetTokensFromRefreshToken'], 'an outage is not taken for "unknown operation"');
});

t.test('a reused rotated refresh token means login required, and a refused one too', async (t) => {
  const pool = await wirePool(t, {
    GetTokensFromRefreshToken: [
      { status: 400, body: { __type: 'RefreshTokenReuseException', message: 'Refresh token has been reused' } },
      { status: 400, body: { __type: 'NotAuthorizedException', message: 'Refresh Token has been revoked' } },
    ],
  });
  await t.rejects(pool.userPool.refresh({ refreshToken: 'old' }), { code: 'BRK_ERR_LOGIN_REQUIRED', message: /already replaced.*RefreshTokenReuseException.*cognito-broker login --profile work/ });
  await t.rejects(pool.userPool.refresh({ refreshToken: 'old' }), { code: 'BRK_ERR_LOGIN_REQUIRED', message: /revoked/ });
  t.equal(pool.received.length, 2, 'one call each: no retry');
});

t.test('sign-in calls carry USERNAME, SECRET_HASH of that username and DEVICE_KEY; answers use USER_ID_FOR_SRP', async (t) => {
  const pool = await wirePool(t, {
    InitiateAuth: { body: { ChallengeName: 'PASSWORD_VERIFIER', Session: 'sess-1', ChallengeParameters: { USER_ID_FOR_SRP: 'internal-id', SALT: 'aa', SRP_B: 'bb', SECRET_BLOCK: 'cc' } } },
    RespondToAuthChallenge: { body: result({ RefreshToken: 'refresh-1', NewDeviceMetadata: { DeviceKey: 'dev-new', DeviceGroupKey: 'grp-new' } }) },
  });
  const context = { clientSecret: 'shh', deviceKey: 'dev-old' };
  const step = await pool.userPool.initiateAuth('USER_SRP_AUTH', 'alice@example.com', { SRP_A: 'abc' }, context);
  t.same(pool.received[0]?.body, {
    AuthFlow: 'USER_SRP_AUTH',
    ClientId: 'client123',
    AuthParameters: { USERNAME: 'alice@example.com', SRP_A: 'abc', SECRET_HASH: secretHash('alice@example.com', 'client123', 'shh'), DEVICE_KEY: 'dev-old' },
  });
  if (step.kind !== 'challenge') throw new Error('expected a challenge');
  t.equal(step.challenge.username, 'internal-id');
  const signedIn = await pool.userPool.respondToChallenge(step.challenge, { PASSWORD_CLAIM_SIGNATURE: 'sig' }, context);
  t.same(pool.received[1]?.body, {
    ClientId: 'client123',
    ChallengeName: 'PASSWORD_VERIFIER',
    Session: 'sess-1',
    ChallengeResponses: { USERNAME: 'internal-id', PASSWORD_CLAIM_SIGNATURE: 'sig', SECRET_HASH: secretHash('internal-id', 'client123', 'shh'), DEVICE_KEY: 'dev-old' },
  });
  t.match(signedIn, { kind: 'signed-in', tokens: { refreshToken: 'refresh-1' }, newDevice: { deviceKey: 'dev-new', deviceGroupKey: 'grp-new' } });
});

t.test('challenge errors become our codes: wrong code, missing or wrong client secret, disabled flow', async (t) => {
  const pool = await wirePool(t, {
    InitiateAuth: [
      { status: 400, body: { __type: 'NotAuthorizedException', message: 'Client client123 is configured for secret but secret was not received' } },
      { status: 400, body: { __type: 'NotAuthorizedException', message: 'Unable to verify secret hash for client client123' } },
      { status: 400, body: { __type: 'InvalidParameterException', message: 'USER_SRP_AUTH flow not enabled for this client' } },
      { status: 400, body: { __type: 'NotAuthorizedException', message: 'Incorrect username or password.' } },
    ],
    RespondToAuthChallenge: { status: 400, body: { __type: 'CodeMismatchException', message: 'Invalid code received for user' } },
    VerifySoftwareToken: { status: 400, body: { __type: 'EnableSoftwareTokenMFAException', message: 'Code mismatch' } },
  });
  const start = () => pool.userPool.initiateAuth('USER_SRP_AUTH', 'alice', { SRP_A: 'a' });
  await t.rejects(start(), { code: 'BRK_ERR_CLIENT_SECRET', missing: true });
  await t.rejects(start(), { code: 'BRK_ERR_CLIENT_SECRET', missing: false });
  await t.rejects(start(), { code: 'BRK_ERR_UPSTREAM_REJECTED', message: /--auth-flow/ });
  await t.rejects(start(), { code: 'BRK_ERR_SIGN_IN_FAILED', awsName: 'NotAuthorizedException' });
  const challenge = { name: 'SMS_MFA', session: 's', username: 'alice', parameters: {} };
  await t.rejects(pool.userPool.respondToChallenge(challenge, { SMS_MFA_CODE: '1' }), { code: 'BRK_ERR_MFA_CODE_MISMATCH', message: /Invalid code/ });
  await t.rejects(pool.userPool.verifySoftwareToken('s', '1', 'x'), { code: 'BRK_ERR_MFA_CODE_MISMATCH' });
});

t.test('MFA_SETUP and device calls send the documented fields', async (t) => {
  const pool = await wirePool(t, {
    AssociateSoftwareToken: { body: { SecretCode: 'JBSWY3DPEHPK3PXP', Session: 'sess-2' } },
    VerifySoftwareToken: { body: { Status: 'SUCCESS', Session: 'sess-3' } },
    ConfirmDevice: { body: { UserConfirmationNecessary: true } },
    UpdateDeviceStatus: { body: {} },
  });
  t.same(await pool.userPool.associateSoftwareToken('sess-1'), { secretCode: 'JBSWY3DPEHPK3PXP', session: 'sess-2' });
  t.same(await pool.userPool.verifySoftwareToken('sess-2', '123456', 'cognito-broker'), { session: 'sess-3' });
  t.same(await pool.userPool.confirmDevice('access', 'dev-1', { passwordVerifier: 'pv', salt: 'salt' }, 'laptop'), { userConfirmationNecessary: true });
  await pool.userPool.rememberDevice('access', 'dev-1');
  t.same(pool.received.map((r) => [r.op, r.body]), [
    ['AssociateSoftwareToken', { Session: 'sess-1' }],
    ['VerifySoftwareToken', { Session: 'sess-2', UserCode: '123456', FriendlyDeviceName: 'cognito-broker' }],
    ['ConfirmDevice', { AccessToken: 'access', DeviceKey: 'dev-1', DeviceName: 'laptop', DeviceSecretVerifierConfig: { PasswordVerifier: 'pv', Salt: 'salt' } }],
    ['UpdateDeviceStatus', { AccessToken: 'access', DeviceKey: 'dev-1', DeviceRememberedStatus: 'remembered' }],
  ]);
});

t.test('revokeToken and globalSignOut: the documented fields, and what their failures mean', async (t) => {
  const pool = await wirePool(t, {
    RevokeToken: [{ body: {} }, { body: {} }, { status: 400, body: { __type: 'UnsupportedOperationException', message: 'Token revocation is not enabled for this app client' } }],
    GlobalSignOut: [{ body: {} }, { status: 400, body: { __type: 'NotAuthorizedException', message: 'Access Token has expired' } }, unsupported('GlobalSignOut')],
  });
  await pool.userPool.revokeToken('refresh-1', 'shh');
  await pool.userPool.revokeToken('refresh-1');
  await t.rejects(pool.userPool.revokeToken('refresh-1'), { code: 'BRK_ERR_UPSTREAM_REJECTED', message: /revocation is not enabled/ });
  await pool.userPool.globalSignOut('access-1');
  await t.rejects(pool.userPool.globalSignOut('access-1'), { code: 'BRK_ERR_LOGIN_REQUIRED', message: /GlobalSignOut/ });
  await t.rejects(pool.userPool.globalSignOut('access-1'), { code: 'BRK_ERR_UPSTREAM_REJECTED', message: /does not support GlobalSignOut/ });
  t.same(pool.received.slice(0, 2).map((r) => r.body), [{ ClientId: 'client123', Token: 'refresh-1', ClientSecret: 'shh' }, { ClientId: 'client123', Token: 'refresh-1' }]);
  t.same(pool.received[3]?.body, { AccessToken: 'access-1' });
});

t.test('a server that is down is reported as unavailable for revocation (logout says it did not happen)', async (t) => {
  const profile: ProfileConfig = {
    name: 'default',
    region: 'eu-west-1',
    userPoolId: 'eu-west-1_Pool123',
    clientId: 'client123',
    identityPoolId: 'eu-west-1:11111111-2222-3333-4444-555555555555',
    endpoints: { cognitoIdp: 'http://127.0.0.1:9' },
  };
  const clients = createCognitoClients(profile);
  t.teardown(() => clients.destroy());
  await t.rejects(clients.userPool.revokeToken('r'), { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', retryable: true });
});
