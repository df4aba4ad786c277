/**
 * Every password sign-in flow, in-process, against the user-pool emulator
 * (testkit/emulators/user-pool-emulator.ts: the server side of SRP, SECRET_HASH checks, every
 * challenge, devices, rotation) through the real AWS SDK client. The same flows through the
 * compiled CLI and the real keychain are in login-flows.test.ts.
 */
import t, { type Test } from 'tap';
import { startUserPoolEmulator, type UserPoolClientSpec, type UserPoolEmulator, type UserPoolEmulatorOptions, type UserSpec } from '../../testkit/emulators/user-pool-emulator.js';
import { createCognitoClients } from '../../src/cognito/create-cognito-clients.js';
import { readIdTokenClaims } from '../../src/cognito/jwt-claims.js';
import { confirmNewDevice, type SignInQuestion, type SignInRequest, signIn } from '../../src/cognito/sign-in.js';
import type { UserPoolClient } from '../../src/cognito/user-pool-client.js';

const PASSWORD = 'Passw0rd!-initial';

interface Pool {
  readonly emu: UserPoolEmulator;
  readonly userPool: UserPoolClient;
  readonly clientSecret?: string | undefined;
  /** A request for `signIn` as this pool's user; `asked` records the questions. */
  request(overrides?: Partial<SignInRequest>): SignInRequest & { asked: SignInQuestion[] };
}

async function pool(t: Test, options: { emulator?: UserPoolEmulatorOptions; client?: UserPoolClientSpec; user?: Partial<UserSpec>; answer?: (q: SignInQuestion, emu: UserPoolEmulator) => string } = {}): Promise<Pool> {
  const emu = await startUserPoolEmulator(options.emulator ?? {});
  t.teardown(() => emu.close());
  const client = emu.createClient(options.client ?? {});
  const username = options.user?.username ?? 'alice';
  emu.createUser({ username, password: PASSWORD, ...options.user });
  const clients = createCognitoClients({
    name: 'default',
    region: emu.region,
    userPoolId: emu.userPoolId,
    clientId: client.clientId,
    identityPoolId: 'us-east-1:11111111-2222-3333-4444-555555555555',
    endpoints: { cognitoIdp: emu.url },
  });
  t.teardown(() => clients.destroy());
  const answer = options.answer ?? defaultAnswer(username);
  return {
    emu,
    userPool: clients.userPool,
    clientSecret: client.clientSecret,
    request(overrides = {}) {
      const asked: SignInQuestion[] = [];
      return {
        flow: 'srp',
        userPoolId: emu.userPoolId,
        username,
        password: PASSWORD,
        clientSecret: client.clientSecret,
        ask: async (q) => {
          asked.push(q);
          return answer(q, emu);
        },
        asked,
        ...overrides,
      };
    },
  };
}

/** Answers as the user would: the code the pool "sent", the authenticator app's current code. */
function defaultAnswer(username: string) {
  return (q: SignInQuestion, emu: UserPoolEmulator): string => {
    switch (q.kind) {
      case 'new-password':
        return 'Brand-new-Passw0rd!';
      case 'attribute':
        return `my ${q.name}`;
      case 'mfa-method':
        return 'TOTP';
      case 'totp-setup':
        return emu.totpCode(username);
      case 'mfa-code':
        return q.method === 'TOTP' ? emu.totpCode(username) : (emu.lastCode(username, q.method === 'SMS' ? 'sms' : 'email') ?? 'none');
    }
  };
}

t.test('SRP signs in with an email alias: the proof and the answers use USER_ID_FOR_SRP; a wrong password is refused', async (t) => {
  const p = await pool(t, { user: { username: 'a1b2c3d4-uuid', email: 'alice@example.com', emailAlias: true } });
  const result = await signIn(p.userPool, p.request({ username: 'alice@example.com' }));
  t.equal(readIdTokenClaims(result.tokens.idToken)['cognito:username'], 'a1b2c3d4-uuid');
  t.equal(result.cognitoUsername, 'a1b2c3d4-uuid');
  t.equal(p.emu.calls.InitiateAuth, 1);
  t.equal(p.emu.calls.RespondToAuthChallenge, 1, 'one PASSWORD_VERIFIER answer');
  await t.rejects(signIn(p.userPool, p.request({ username: 'alice@example.com', password: 'wrong' })), { code: 'BRK_ERR_SIGN_IN_FAILED' });
});

t.test('USER_PASSWORD_AUTH is kept with flow user-password', async (t) => {
  const p = await pool(t);
  const result = await signIn(p.userPool, p.request({ flow: 'user-password' }));
  t.ok(result.tokens.refreshToken);
  t.equal(p.emu.calls.RespondToAuthChallenge, 0);
});

t.test('an app client with a secret: SECRET_HASH on every call; missing and wrong secrets are told apart', async (t) => {
  const p = await pool(t, { client: { secret: true }, user: { username: 'b7-uuid', email: 'bob@example.com', emailAlias: true, mfa: 'totp' }, answer: (_q, emu) => emu.totpCode('b7-uuid') });
  const result = await signIn(p.userPool, p.request({ username: 'bob@example.com' }));
  t.ok(result.tokens.refreshToken, 'InitiateAuth (alias), PASSWORD_VERIFIER and SOFTWARE_TOKEN_MFA (internal name) all accepted');
  await t.rejects(signIn(p.userPool, p.request({ clientSecret: undefined })), { code: 'BRK_ERR_CLIENT_SECRET', missing: true });
  await t.rejects(signIn(p.userPool, p.request({ clientSecret: 'not-the-secret' })), { code: 'BRK_ERR_CLIENT_SECRET', missing: false });

  // Refresh: GetTokensFromRefreshToken takes the raw secret...
  const request = { refreshToken: result.tokens.refreshToken, cognitoUsername: 'b7-uuid', clientSecret: p.clientSecret };
  t.ok((await p.userPool.refresh(request)).idToken);
  await t.rejects(p.userPool.refresh({ ...request, clientSecret: 'wrong' }), { code: 'BRK_ERR_LOGIN_REQUIRED' });
});

t.test('REFRESH_TOKEN_AUTH, used where GetTokensFromRefreshToken is unknown, sends SECRET_HASH of cognito:username', async (t) => {
  const p = await pool(t, { client: { secret: true }, user: { username: 'c9-uuid', email: 'carol@example.com', emailAlias: true } });
  const { tokens } = await signIn(p.userPool, p.request({ username: 'carol@example.com' }));
  p.emu.failNext('GetTokensFromRefreshToken', { status: 500, type: 'CognitoLocal#Unsupported', message: 'Cognito Local unsupported feature: Unsupported x-amz-target header "GetTokensFromRefreshToken"' });
  const before = p.emu.calls.GetTokensFromRefreshToken;
  const refreshed = await p.userPool.refresh({ refreshToken: tokens.refreshToken, cognitoUsername: 'c9-uuid', clientSecret: p.clientSecret });
  t.ok(refreshed.idToken, 'the emulator checked SECRET_HASH over c9-uuid');
  await p.userPool.refresh({ refreshToken: tokens.refreshToken, cognitoUsername: 'c9-uuid', clientSecret: p.clientSecret });
  t.equal(p.emu.calls.GetTokensFromRefreshToken - before, 1, 'GetTokensFromRefreshToken not asked again');
});

for (const [method, spec] of [['SMS_MFA', 'sms'], ['SOFTWARE_TOKEN_MFA', 'totp'], ['EMAIL_OTP', 'email']] as const) {
  t.test(`${method}: the code is asked and accepted; a wrong one first is refused and asked again in the same session`, async (t) => {
    let wrongFirst = true;
    const p = await pool(t, {
      user: { mfa: spec, email: 'alice@example.com' },
      answer: (q, emu) => {
        if (q.kind === 'mfa-code' && wrongFirst) {
          wrongFirst = false;
          return '000000';
        }
        return defaultAnswer('alice')(q, emu);
      },
    });
    const req = p.request();
    const result = await signIn(p.userPool, req);
    t.ok(result.tokens.refreshToken);
    t.equal(req.asked.length, 2);
    t.match(req.asked[1], { kind: 'mfa-code', refused: /CodeMismatchException/ });
    if (spec !== 'totp') t.equal(p.emu.messages.length, 1, 'one code sent: the retry used the same session');
  });
}

t.test('SELECT_MFA_TYPE: the chosen method is answered', async (t) => {
  const p = await pool(t, { user: { mfa: ['sms', 'totp'] } });
  const req = p.request();
  await signIn(p.userPool, req);
  t.same(req.asked.map((q) => q.kind), ['mfa-method', 'mfa-code']);
  t.match(req.asked[0], { options: ['SMS', 'TOTP'] });
  t.match(req.asked[1], { method: 'TOTP' });
});

t.test('MFA_SETUP: an authenticator app is enrolled during sign-in and asked for at the next one', async (t) => {
  const p = await pool(t, { user: { mfaRequired: true } });
  const req = p.request();
  const first = await signIn(p.userPool, req);
  t.ok(first.tokens.refreshToken);
  t.match(req.asked[0], { kind: 'totp-setup', uri: new RegExp(`^otpauth://totp/[^?]+:alice\\?secret=[A-Z2-7]+&issuer=`) });
  t.equal(p.emu.calls.AssociateSoftwareToken, 1);
  t.equal(p.emu.calls.VerifySoftwareToken, 1);
  const again = p.request();
  await signIn(p.userPool, again);
  t.match(again.asked, [{ kind: 'mfa-code', method: 'TOTP' }]);
});

t.test('NEW_PASSWORD_REQUIRED with required attributes: each attribute is asked for, then the new password works', async (t) => {
  const p = await pool(t, { user: { forceNewPassword: true, requiredAttributes: ['name', 'family_name'] } });
  const req = p.request();
  await signIn(p.userPool, req);
  t.same(req.asked.map((q) => (q.kind === 'attribute' ? q.name : q.kind)), ['new-password', 'name', 'family_name']);
  const next = await signIn(p.userPool, p.request({ password: 'Brand-new-Passw0rd!' }));
  t.ok(next.tokens.refreshToken, 'the new password is the password now');
});

t.test('a remembered device: ConfirmDevice, then the next sign-in authenticates the device and asks no MFA', async (t) => {
  const p = await pool(t, { emulator: { deviceTracking: true }, client: { secret: true }, user: { mfa: 'sms' } });
  const first = p.request();
  const result = await signIn(p.userPool, first);
  t.equal(first.asked.length, 1, 'MFA asked the first time');
  if (!result.newDevice) throw new Error('the pool tracks devices: NewDeviceMetadata expected');
  const device = await confirmNewDevice(p.userPool, result.tokens.accessToken, result.newDevice, 'test machine');
  if (!device) throw new Error('not remembered');
  t.match(p.emu.devices('alice'), [{ deviceKey: device.deviceKey, confirmed: true, remembered: true }]);

  const second = p.request({ device });
  const again = await signIn(p.userPool, second);
  t.same(second.asked, [], 'no MFA');
  t.equal(again.deviceKey, device.deviceKey);
  t.equal(again.newDevice, undefined);
  const refreshed = await p.userPool.refresh({ refreshToken: again.tokens.refreshToken, clientSecret: p.clientSecret, deviceKey: device.deviceKey });
  t.ok(refreshed.idToken, 'refresh with DEVICE_KEY');
});

t.test('a device the pool forgot: sign-in drops it and asks for MFA', async (t) => {
  const p = await pool(t, { emulator: { deviceTracking: true }, user: { mfa: 'totp' } });
  const device = { deviceKey: `${p.emu.region}_00000000-0000-0000-0000-000000000000`, deviceGroupKey: '-nogroup', devicePassword: 'x'.repeat(40) };
  const req = p.request({ device });
  const result = await signIn(p.userPool, req);
  t.equal(result.deviceRefused, true, 'to be dropped from the keychain');
  t.equal(result.deviceKey, result.newDevice?.deviceKey, 'the session is bound to the new device, if any, never the forgotten one');
  t.not(result.deviceKey, device.deviceKey);
  t.match(req.asked, [{ kind: 'mfa-code' }]);
});

t.test('rotation: each refresh returns a new refresh token; the previous one, reused after the grace period, is login required', async (t) => {
  let now = Date.now();
  const p = await pool(t, { emulator: { now: () => now }, client: { rotation: true, gracePeriodSeconds: 10 } });
  const { tokens } = await signIn(p.userPool, p.request());
  let current = tokens.refreshToken;
  const seen = new Set([current]);
  for (let i = 0; i < 4; i += 1) {
    now += 60_000;
    const next = await p.userPool.refresh({ refreshToken: current });
    if (!next.refreshToken) throw new Error('a rotating client returns a new refresh token');
    t.notOk(seen.has(next.refreshToken), `rotation ${i + 1}: a new token`);
    seen.add(next.refreshToken);
    // Within the grace period the old one still works (a crash before the keychain write).
    t.ok((await p.userPool.refresh({ refreshToken: current })).idToken, 'old token still works within the grace period');
    current = next.refreshToken;
  }
  now += 60_000;
  const old = [...seen][0] as string;
  const before = p.emu.calls.GetTokensFromRefreshToken;
  await t.rejects(p.userPool.refresh({ refreshToken: old }), { code: 'BRK_ERR_LOGIN_REQUIRED', message: /RefreshTokenReuseException/ });
  t.equal(p.emu.calls.GetTokensFromRefreshToken - before, 1, 'one call, no retry');
});

t.test('revokeToken ends the refresh token; globalSignOut ends every session of the user', async (t) => {
  const p = await pool(t, { client: { secret: true } });
  const one = await signIn(p.userPool, p.request());
  await p.userPool.revokeToken(one.tokens.refreshToken, p.clientSecret);
  await t.rejects(p.userPool.refresh({ refreshToken: one.tokens.refreshToken, clientSecret: p.clientSecret }), { code: 'BRK_ERR_LOGIN_REQUIRED' });
  const two = await signIn(p.userPool, p.request());
  const three = await signIn(p.userPool, p.request());
  await p.userPool.globalSignOut(two.tokens.accessToken);
  await t.rejects(p.userPool.refresh({ refreshToken: three.tokens.refreshToken, clientSecret: p.clientSecret }), { code: 'BRK_ERR_LOGIN_REQUIRED' });
  await t.rejects(p.userPool.globalSignOut(two.tokens.accessToken), { code: 'BRK_ERR_LOGIN_REQUIRED' }, 'the access token is revoked too');
});
