import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import t from 'tap';
import {
  AssociateSoftwareTokenCommand,
  CognitoIdentityProviderClient,
  ConfirmDeviceCommand,
  GetTokensFromRefreshTokenCommand,
  GetUserCommand,
  GlobalSignOutCommand,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
  RevokeTokenCommand,
  VerifySoftwareTokenCommand,
  type InitiateAuthCommandInput,
  type InitiateAuthCommandOutput,
  type RespondToAuthChallengeCommandInput,
  type RespondToAuthChallengeCommandOutput,
} from '@aws-sdk/client-cognito-identity-provider';
import { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetIdCommand } from '@aws-sdk/client-cognito-identity';
import {
  createDeviceVerifier,
  createSecretHash,
  createSrpSession,
  signSrpSession,
  signSrpSessionWithDevice,
  wrapAuthChallenge as wrapAnswer,
  wrapInitiateAuth as wrapInitiate,
} from 'cognito-srp-helper';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { startIdentityPoolEmulator } from '../../../testkit/emulators/identity-pool-emulator.js';
import { startLocalStack } from '../../../testkit/local-stack.js';
import {
  claimSignature,
  formatSrpTimestamp,
  hexHash,
  modPow,
  padHex,
  parseSrpTimestamp,
  SRP_G,
  SRP_K,
  SRP_N,
} from '../../../testkit/emulators/user-pool/srp-server.js';
import { secretHash, startUserPoolEmulator, type UserPoolEmulator } from '../../../testkit/emulators/user-pool-emulator.js';

const REGION = 'eu-west-1';
const PASSWORD = 'Corr3ct-Horse!';
const SESSION_SECONDS = 120;
const ADMIN_ROLE = 'arn:aws:iam::123456789012:role/admins';
const READER_ROLE = 'arn:aws:iam::123456789012:role/readers';

let emu: UserPoolEmulator;
let idp: CognitoIdentityProviderClient;
let clockOffsetMs = 0;
const now = () => Date.now() + clockOffsetMs;

t.before(async () => {
  emu = await startUserPoolEmulator({
    region: REGION,
    sessionSeconds: SESSION_SECONDS,
    lifetimes: { idTokenSeconds: 900, accessTokenSeconds: 600, refreshTokenSeconds: 7200 },
    now,
  });
  // Every user-pool call the broker makes is unsigned: no credentials at all.
  idp = new CognitoIdentityProviderClient({ region: REGION, endpoint: emu.url, maxAttempts: 1 });
});
t.afterEach(() => {
  clockOffsetMs = 0;
});
t.teardown(async () => {
  idp.destroy();
  await emu.close();
});

// cognito-srp-helper types AuthFlow and ChallengeName as plain strings; the SDK wants its enums.
const wrapInitiateAuth = (srp: Parameters<typeof wrapInitiate>[0], input: InitiateAuthCommandInput) =>
  wrapInitiate(srp, input) as InitiateAuthCommandInput;
const wrapAuthChallenge = (signed: Parameters<typeof wrapAnswer>[0], input: RespondToAuthChallengeCommandInput) =>
  wrapAnswer(signed, input) as RespondToAuthChallengeCommandInput;

interface SignInOptions {
  clientId: string;
  secret?: string;
  /** What the user types as USERNAME (may be an alias). */
  username: string;
  password?: string;
  deviceKey?: string;
  client?: CognitoIdentityProviderClient;
}

/** USER_SRP_AUTH through PASSWORD_VERIFIER with cognito-srp-helper, the way the broker signs in. */
async function srpSignIn(o: SignInOptions): Promise<RespondToAuthChallengeCommandOutput & { srp: ReturnType<typeof createSrpSession> }> {
  const client = o.client ?? idp;
  const srp = createSrpSession(o.username, o.password ?? PASSWORD, emuFor(client).userPoolId, false);
  const hash: Record<string, string> = o.secret ? { SECRET_HASH: createSecretHash(o.username, o.clientId, o.secret) } : {};
  const device: Record<string, string> = o.deviceKey ? { DEVICE_KEY: o.deviceKey } : {};
  const init = await client.send(
    new InitiateAuthCommand(
      wrapInitiateAuth(srp, { ClientId: o.clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: o.username, ...hash, ...device } }),
    ),
  );
  if (init.ChallengeName !== 'PASSWORD_VERIFIER') throw new Error(`expected PASSWORD_VERIFIER, got ${init.ChallengeName}`);
  const userId = init.ChallengeParameters?.USER_ID_FOR_SRP ?? '';
  // The answer names the internal username (USER_ID_FOR_SRP); so does its SECRET_HASH.
  const answerHash: Record<string, string> = o.secret ? { SECRET_HASH: createSecretHash(userId, o.clientId, o.secret) } : {};
  const out = await client.send(
    new RespondToAuthChallengeCommand(
      wrapAuthChallenge(signSrpSession(srp, init), {
        ClientId: o.clientId,
        ChallengeName: 'PASSWORD_VERIFIER',
        ChallengeResponses: { USERNAME: userId, ...answerHash, ...device },
      }),
    ),
  );
  return { ...out, srp };
}

const emulators = new Map<CognitoIdentityProviderClient, UserPoolEmulator>();
function emuFor(client: CognitoIdentityProviderClient): UserPoolEmulator {
  return emulators.get(client) ?? emu;
}

function respond(
  clientId: string,
  challenge: string,
  session: string | undefined,
  responses: Record<string, string>,
  client = idp,
): Promise<RespondToAuthChallengeCommandOutput> {
  return client.send(new RespondToAuthChallengeCommand({ ClientId: clientId, ChallengeName: challenge as never, Session: session, ChallengeResponses: responses }));
}

function totp(secret: string, atMs = now()): string {
  // An independent RFC 6238 implementation (otpauth), not the emulator's own.
  return new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: atMs });
}

function userName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

// --- SRP ---------------------------------------------------------------------------------------

t.test('USER_SRP_AUTH with cognito-srp-helper signs in, and the tokens verify against the pool JWKS', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('srp');
  const { sub } = emu.createUser({ username, password: PASSWORD, email: `${username}@example.com` });
  const before = emu.calls.RespondToAuthChallenge;
  const out = await srpSignIn({ clientId, username });
  t.equal(emu.calls.RespondToAuthChallenge, before + 1);
  const result = out.AuthenticationResult;
  t.equal(result?.TokenType, 'Bearer');
  t.equal(result?.ExpiresIn, 600, 'ExpiresIn is the access-token lifetime');
  t.match(result?.RefreshToken, /^[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWE-shaped refresh token');

  const jwks = createRemoteJWKSet(new URL(emu.jwksUri));
  const { payload: id } = await jwtVerify(result?.IdToken ?? '', jwks, { issuer: emu.issuer, audience: clientId });
  t.match(id, { sub, token_use: 'id', 'cognito:username': username, email: `${username}@example.com` });
  t.equal((id.exp ?? 0) - (id.iat ?? 0), 900);
  const { payload: access } = await jwtVerify(result?.AccessToken ?? '', jwks, { issuer: emu.issuer });
  t.match(access, { sub, token_use: 'access', client_id: clientId, username });
  t.equal((access.exp ?? 0) - (access.iat ?? 0), 600);
  t.equal(access['origin_jti'], id['origin_jti'], 'both tokens carry the sign-in family');
  t.equal(emu.issuer, `${emu.url}/${emu.userPoolId}`);
  t.match(emu.userPoolId, /^eu-west-1_\w{9}$/);
});

t.test('USER_SRP_AUTH refuses a wrong password, an unknown user and a replayed proof', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('srp-wrong');
  emu.createUser({ username, password: PASSWORD });
  await t.rejects(srpSignIn({ clientId, username, password: 'Wr0ng-Password!' }), {
    name: 'NotAuthorizedException',
    message: 'Incorrect username or password.',
  });
  // An unknown user still gets a PASSWORD_VERIFIER challenge (no user-existence leak), then the same refusal.
  await t.rejects(srpSignIn({ clientId, username: 'nobody-here' }), { name: 'NotAuthorizedException', message: 'Incorrect username or password.' });

  // A correct proof works exactly once.
  const srp = createSrpSession(username, PASSWORD, emu.userPoolId, false);
  const init = await idp.send(new InitiateAuthCommand(wrapInitiateAuth(srp, { ClientId: clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: username } })));
  const answer = wrapAuthChallenge(signSrpSession(srp, init), { ClientId: clientId, ChallengeName: 'PASSWORD_VERIFIER', ChallengeResponses: { USERNAME: username } });
  const ok = await idp.send(new RespondToAuthChallengeCommand(answer));
  t.ok(ok.AuthenticationResult?.IdToken);
  await t.rejects(idp.send(new RespondToAuthChallengeCommand(answer)), { name: 'NotAuthorizedException', message: /only be used once/ });

  // A tampered signature is refused.
  const init2 = await idp.send(new InitiateAuthCommand(wrapInitiateAuth(srp, { ClientId: clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: username } })));
  const signed = signSrpSession(srp, init2);
  const tampered = wrapAuthChallenge({ ...signed, passwordSignature: Buffer.alloc(32, 7).toString('base64') }, {
    ClientId: clientId,
    ChallengeName: 'PASSWORD_VERIFIER',
    ChallengeResponses: { USERNAME: username },
  });
  await t.rejects(idp.send(new RespondToAuthChallengeCommand(tampered)), { name: 'NotAuthorizedException' });
});

/** Client-side SRP written from the protocol, independent of cognito-srp-helper. */
function clientProof(poolId: string, password: string, params: Record<string, string>, a: bigint, timestamp: string): string {
  const poolName = poolId.split('_')[1] ?? '';
  const userId = params['USER_ID_FOR_SRP'] ?? '';
  const A = modPow(SRP_G, a, SRP_N);
  const B = BigInt(`0x${params['SRP_B']}`);
  const salt = BigInt(`0x${params['SALT']}`);
  const u = BigInt(`0x${hexHash(padHex(A) + padHex(B))}`);
  const inner = createHash('sha256').update(`${poolName}${userId}:${password}`).digest('hex');
  const x = BigInt(`0x${hexHash(padHex(salt) + inner)}`);
  const base = (((B - SRP_K * modPow(SRP_G, x, SRP_N)) % SRP_N) + SRP_N) % SRP_N;
  const S = modPow(base, a + u * x, SRP_N);
  const key = Buffer.from(hkdfSync('sha256', Buffer.from(padHex(S), 'hex'), Buffer.from(padHex(u), 'hex'), Buffer.from('Caldera Derived Key'), 16));
  return claimSignature(key, [poolName, userId], params['SECRET_BLOCK'] ?? '', timestamp);
}

t.test('the proof is checked with an independent SRP client, and only an exact Cognito TIMESTAMP is accepted', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('srp-ts');
  emu.createUser({ username, password: PASSWORD });
  const attempt = async (timestamp: string) => {
    const a = BigInt(`0x${randomBytes(32).toString('hex')}`);
    const init = await idp.send(
      new InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: username, SRP_A: modPow(SRP_G, a, SRP_N).toString(16) } }),
    );
    const params = init.ChallengeParameters ?? {};
    return respond(clientId, 'PASSWORD_VERIFIER', undefined, {
      USERNAME: username,
      PASSWORD_CLAIM_SECRET_BLOCK: params['SECRET_BLOCK'] ?? '',
      PASSWORD_CLAIM_SIGNATURE: clientProof(emu.userPoolId, PASSWORD, params, a, timestamp),
      TIMESTAMP: timestamp,
    });
  };
  const good = await attempt('Mon Nov 2 14:05:09 UTC 2026');
  t.ok(good.AuthenticationResult?.AccessToken, 'a correctly signed proof with the exact format signs in');
  // Correctly signed, but the day of month is zero-padded: refused.
  await t.rejects(attempt('Mon Nov 02 14:05:09 UTC 2026'), { name: 'NotAuthorizedException' });
  await t.rejects(attempt('Sun Nov 2 14:05:09 UTC 2026'), { name: 'NotAuthorizedException' }, 'weekday does not match the date');

  t.equal(formatSrpTimestamp(new Date(Date.UTC(2026, 10, 2, 14, 5, 9))), 'Mon Nov 2 14:05:09 UTC 2026');
  t.equal(parseSrpTimestamp('Mon Nov 2 14:05:09 UTC 2026'), Date.UTC(2026, 10, 2, 14, 5, 9));
  t.equal(parseSrpTimestamp('Mon Nov 02 14:05:09 UTC 2026'), undefined);
  const helperTimestamp = createSrpSession('u', 'p', emu.userPoolId, false).timestamp;
  t.not(parseSrpTimestamp(helperTimestamp), undefined, `cognito-srp-helper's timestamp parses: ${helperTimestamp}`);
});

t.test('USER_PASSWORD_AUTH signs in with the right password only, and a disabled user not at all', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('plain');
  emu.createUser({ username, password: PASSWORD });
  const ok = await idp.send(new InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD } }));
  t.ok(ok.AuthenticationResult?.RefreshToken);
  await t.rejects(
    idp.send(new InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD: 'nope' } })),
    { name: 'NotAuthorizedException', message: 'Incorrect username or password.' },
  );
  emu.setUserEnabled(username, false);
  await t.rejects(
    idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: clientId, RefreshToken: ok.AuthenticationResult?.RefreshToken })),
    { name: 'NotAuthorizedException', message: 'User is disabled.' },
  );
  await t.rejects(srpSignIn({ clientId, username }), { name: 'NotAuthorizedException', message: 'User is disabled.' });
  emu.setUserEnabled(username, true);
  const srpOnly = emu.createClient({ authFlows: ['USER_SRP_AUTH'] });
  await t.rejects(
    idp.send(new InitiateAuthCommand({ ClientId: srpOnly.clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD } })),
    { name: 'InvalidParameterException', message: 'USER_PASSWORD_AUTH flow not enabled for this client' },
  );
  await t.rejects(
    idp.send(new InitiateAuthCommand({ ClientId: 'no-such-client', AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD } })),
    { name: 'ResourceNotFoundException' },
  );
});

// --- SECRET_HASH ---------------------------------------------------------------------------------

t.test('a client with a secret needs the right SECRET_HASH on every call; refresh hashes cognito:username', async (t) => {
  const { clientId, clientSecret } = emu.createClient({ secret: true });
  const secret = clientSecret as string;
  t.match(secret, /^[a-z0-9]{51}$/);
  const username = userName('hash');
  const email = `${username}@example.com`;
  emu.createUser({ username, password: PASSWORD, email, emailAlias: true });

  const signedIn = await srpSignIn({ clientId, secret, username: email });
  t.ok(signedIn.AuthenticationResult?.RefreshToken, 'signs in by email alias; the answer hashes USER_ID_FOR_SRP');
  t.equal(decodeJwt(signedIn.AuthenticationResult?.IdToken ?? '')['cognito:username'], username);

  const initiate = (hash?: string) =>
    idp.send(
      new InitiateAuthCommand({
        ClientId: clientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: username, PASSWORD, ...(hash !== undefined ? { SECRET_HASH: hash } : {}) },
      }),
    );
  await t.rejects(initiate(), { name: 'NotAuthorizedException', message: /configured with secret but SECRET_HASH was not received/ });
  await t.rejects(initiate(secretHash(username, clientId, 'not-the-secret')), { name: 'NotAuthorizedException', message: /Unable to verify secret hash/ });
  await t.rejects(initiate(secretHash('someone-else', clientId, secret)), { name: 'NotAuthorizedException' });
  const ok = await initiate(secretHash(username, clientId, secret));
  t.equal(secretHash(username, clientId, secret), createSecretHash(username, clientId, secret), 'same hash as cognito-srp-helper');

  // PASSWORD_VERIFIER without SECRET_HASH is refused even with a valid proof.
  const srp = createSrpSession(username, PASSWORD, emu.userPoolId, false);
  const init = await idp.send(
    new InitiateAuthCommand(
      wrapInitiateAuth(srp, { ClientId: clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: username, SECRET_HASH: secretHash(username, clientId, secret) } }),
    ),
  );
  await t.rejects(
    idp.send(new RespondToAuthChallengeCommand(wrapAuthChallenge(signSrpSession(srp, init), { ClientId: clientId, ChallengeName: 'PASSWORD_VERIFIER', ChallengeResponses: { USERNAME: username } }))),
    { name: 'NotAuthorizedException', message: /SECRET_HASH was not received/ },
  );

  const refresh = (hashUser: string) =>
    idp.send(
      new InitiateAuthCommand({
        ClientId: clientId,
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        AuthParameters: { REFRESH_TOKEN: ok.AuthenticationResult?.RefreshToken ?? '', SECRET_HASH: secretHash(hashUser, clientId, secret) },
      }),
    );
  await t.rejects(refresh(email), { name: 'NotAuthorizedException', message: /Unable to verify secret hash/ }, 'the email alias is not the refresh username');
  const refreshed = await refresh(username);
  t.ok(refreshed.AuthenticationResult?.IdToken);
  t.equal(refreshed.AuthenticationResult?.RefreshToken, undefined, 'REFRESH_TOKEN_AUTH returns no refresh token');
});

// --- MFA challenges ---------------------------------------------------------------------------

t.test('SMS_MFA: a wrong code is CodeMismatchException and the same session then takes the right code', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('sms');
  emu.createUser({ username, password: PASSWORD, mfa: 'sms', phoneNumber: '+15555551234' });
  const challenge = await srpSignIn({ clientId, username });
  t.equal(challenge.ChallengeName, 'SMS_MFA');
  t.match(challenge.ChallengeParameters, { CODE_DELIVERY_DELIVERY_MEDIUM: 'SMS', CODE_DELIVERY_DESTINATION: '+*******1234' });
  const code = emu.lastCode(username, 'sms') as string;
  t.match(code, /^\d{6}$/);
  t.match(emu.messages.at(-1), { channel: 'sms', username, destination: '+15555551234', code });
  const wrong = code === '000000' ? '111111' : '000000';
  await t.rejects(respond(clientId, 'SMS_MFA', challenge.Session, { USERNAME: username, SMS_MFA_CODE: wrong }), {
    name: 'CodeMismatchException',
    message: 'Invalid code or auth state for the user.',
  });
  const ok = await respond(clientId, 'SMS_MFA', challenge.Session, { USERNAME: username, SMS_MFA_CODE: code });
  t.ok(ok.AuthenticationResult?.IdToken);
  await t.rejects(respond(clientId, 'SMS_MFA', challenge.Session, { USERNAME: username, SMS_MFA_CODE: code }), {
    name: 'NotAuthorizedException',
    message: /only be used once/,
  });
});

t.test('a challenge session dies after too many wrong codes, and expires', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('sms-tries');
  emu.createUser({ username, password: PASSWORD, mfa: 'sms' });
  const challenge = await srpSignIn({ clientId, username });
  const code = emu.lastCode(username) as string;
  const wrong = code === '000000' ? '111111' : '000000';
  for (let i = 0; i < 3; i += 1) {
    await t.rejects(respond(clientId, 'SMS_MFA', challenge.Session, { USERNAME: username, SMS_MFA_CODE: wrong }), { name: 'CodeMismatchException' });
  }
  await t.rejects(respond(clientId, 'SMS_MFA', challenge.Session, { USERNAME: username, SMS_MFA_CODE: code }), {
    name: 'NotAuthorizedException',
    message: 'Invalid session for the user.',
  });

  const again = await srpSignIn({ clientId, username });
  clockOffsetMs = (SESSION_SECONDS + 1) * 1000;
  await t.rejects(respond(clientId, 'SMS_MFA', again.Session, { USERNAME: username, SMS_MFA_CODE: emu.lastCode(username) as string }), {
    name: 'NotAuthorizedException',
    message: 'Invalid session for the user, session is expired.',
  });
});

t.test('SOFTWARE_TOKEN_MFA takes the current TOTP code of the enrolled secret', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('totp');
  const { totpSecret } = emu.createUser({ username, password: PASSWORD, mfa: 'totp' });
  t.match(totpSecret, /^[A-Z2-7]{32}$/);
  t.equal(emu.totpCode(username), totp(totpSecret as string), 'the hook agrees with otpauth');
  const challenge = await srpSignIn({ clientId, username });
  t.equal(challenge.ChallengeName, 'SOFTWARE_TOKEN_MFA');
  const stale = totp(totpSecret as string, now() - 5 * 60_000);
  await t.rejects(respond(clientId, 'SOFTWARE_TOKEN_MFA', challenge.Session, { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: stale }), {
    name: 'CodeMismatchException',
  });
  const ok = await respond(clientId, 'SOFTWARE_TOKEN_MFA', challenge.Session, { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: totp(totpSecret as string) });
  t.ok(ok.AuthenticationResult?.AccessToken);
});

t.test('EMAIL_OTP sends a code by email', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('email');
  emu.createUser({ username, password: PASSWORD, email: 'mail.user@example.com', mfa: 'email' });
  const challenge = await srpSignIn({ clientId, username });
  t.equal(challenge.ChallengeName, 'EMAIL_OTP');
  t.match(challenge.ChallengeParameters, { CODE_DELIVERY_DELIVERY_MEDIUM: 'EMAIL', CODE_DELIVERY_DESTINATION: 'm***@e***' });
  t.equal(emu.lastCode(username, 'sms'), undefined);
  const ok = await respond(clientId, 'EMAIL_OTP', challenge.Session, { USERNAME: username, EMAIL_OTP_CODE: emu.lastCode(username, 'email') as string });
  t.ok(ok.AuthenticationResult?.IdToken);
});

t.test('SELECT_MFA_TYPE offers the enrolled methods; a preferred method skips the choice', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('select');
  const { totpSecret } = emu.createUser({ username, password: PASSWORD, email: 'sel@example.com', mfa: ['sms', 'totp', 'email'] });
  const select = await srpSignIn({ clientId, username });
  t.equal(select.ChallengeName, 'SELECT_MFA_TYPE');
  t.same(JSON.parse(select.ChallengeParameters?.MFAS_CAN_CHOOSE ?? '[]'), ['SMS_MFA', 'SOFTWARE_TOKEN_MFA', 'EMAIL_OTP']);
  await t.rejects(respond(clientId, 'SELECT_MFA_TYPE', select.Session, { USERNAME: username, ANSWER: 'CARRIER_PIGEON' }), { name: 'InvalidParameterException' });
  const chosen = await respond(clientId, 'SELECT_MFA_TYPE', select.Session, { USERNAME: username, ANSWER: 'SOFTWARE_TOKEN_MFA' });
  t.equal(chosen.ChallengeName, 'SOFTWARE_TOKEN_MFA');
  t.not(chosen.Session, select.Session, 'each step hands out a new session');
  const ok = await respond(clientId, 'SOFTWARE_TOKEN_MFA', chosen.Session, { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: totp(totpSecret as string) });
  t.ok(ok.AuthenticationResult?.IdToken);

  const emailFirst = userName('preferred');
  emu.createUser({ username: emailFirst, password: PASSWORD, email: 'pref@example.com', mfa: { methods: ['sms', 'email'], preferred: 'email' } });
  t.equal((await srpSignIn({ clientId, username: emailFirst })).ChallengeName, 'EMAIL_OTP');
});

t.test('MFA_SETUP: AssociateSoftwareToken, VerifySoftwareToken, then the challenge answer', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('setup');
  emu.createUser({ username, password: PASSWORD, mfaRequired: true });
  const setup = await srpSignIn({ clientId, username });
  t.equal(setup.ChallengeName, 'MFA_SETUP');
  t.same(JSON.parse(setup.ChallengeParameters?.MFAS_CAN_SETUP ?? '[]'), ['SOFTWARE_TOKEN_MFA']);
  await t.rejects(respond(clientId, 'MFA_SETUP', setup.Session, { USERNAME: username }), { name: 'InvalidParameterException' }, 'not before verifying');

  const associated = await idp.send(new AssociateSoftwareTokenCommand({ Session: setup.Session }));
  const secret = associated.SecretCode as string;
  t.match(secret, /^[A-Z2-7]{32}$/);
  t.equal(emu.totpCode(username), totp(secret), 'the hook gives the pending secret during enrolment');
  const wrong = totp(secret, now() - 10 * 60_000);
  await t.rejects(idp.send(new VerifySoftwareTokenCommand({ Session: associated.Session, UserCode: wrong })), { name: 'EnableSoftwareTokenMFAException' });
  const verified = await idp.send(new VerifySoftwareTokenCommand({ Session: associated.Session, UserCode: totp(secret), FriendlyDeviceName: 'phone' }));
  t.equal(verified.Status, 'SUCCESS');
  const done = await respond(clientId, 'MFA_SETUP', verified.Session, { USERNAME: username });
  t.ok(done.AuthenticationResult?.IdToken, 'enrolment completes the sign-in');

  const next = await srpSignIn({ clientId, username });
  t.equal(next.ChallengeName, 'SOFTWARE_TOKEN_MFA', 'the next sign-in asks for the enrolled TOTP');
  const ok = await respond(clientId, 'SOFTWARE_TOKEN_MFA', next.Session, { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: totp(secret) });
  t.ok(ok.AuthenticationResult?.AccessToken);
});

t.test('NEW_PASSWORD_REQUIRED asks for the required attributes and sets the new password', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('newpw');
  emu.createUser({ username, password: 'Temp-Passw0rd!', forceNewPassword: true, requiredAttributes: ['name'], email: 'np@example.com' });
  const challenge = await srpSignIn({ clientId, username, password: 'Temp-Passw0rd!' });
  t.equal(challenge.ChallengeName, 'NEW_PASSWORD_REQUIRED');
  t.same(JSON.parse(challenge.ChallengeParameters?.requiredAttributes ?? ''), ['userAttributes.name']);
  t.match(JSON.parse(challenge.ChallengeParameters?.userAttributes ?? '{}'), { email: 'np@example.com' });
  const newPassword = 'Brand-New-Pw1!';
  await t.rejects(respond(clientId, 'NEW_PASSWORD_REQUIRED', challenge.Session, { USERNAME: username, NEW_PASSWORD: newPassword }), {
    name: 'InvalidParameterException',
    message: /name is missing/,
  });
  await t.rejects(
    respond(clientId, 'NEW_PASSWORD_REQUIRED', challenge.Session, { USERNAME: username, NEW_PASSWORD: 'short', 'userAttributes.name': 'Ann' }),
    { name: 'InvalidPasswordException' },
  );
  const ok = await respond(clientId, 'NEW_PASSWORD_REQUIRED', challenge.Session, { USERNAME: username, NEW_PASSWORD: newPassword, 'userAttributes.name': 'Ann' });
  t.equal(decodeJwt(ok.AuthenticationResult?.IdToken ?? '')['name'], 'Ann');
  await t.rejects(srpSignIn({ clientId, username, password: 'Temp-Passw0rd!' }), { name: 'NotAuthorizedException' }, 'the temporary password is gone');
  t.ok((await srpSignIn({ clientId, username, password: newPassword })).AuthenticationResult, 'the new password signs in without a challenge');
});

// --- devices ------------------------------------------------------------------------------------

t.test('a confirmed device signs in with DEVICE_SRP_AUTH instead of MFA and refreshes only with its key', async (t) => {
  const pool = await startUserPoolEmulator({ region: REGION, deviceTracking: true, now });
  const client = new CognitoIdentityProviderClient({ region: REGION, endpoint: pool.url, maxAttempts: 1 });
  emulators.set(client, pool);
  t.teardown(async () => {
    client.destroy();
    await pool.close();
  });
  const { clientId, clientSecret } = pool.createClient({ secret: true });
  const secret = clientSecret as string;
  const username = 'device-user';
  pool.createUser({ username, password: PASSWORD, mfa: 'sms' });
  const hash = createSecretHash(username, clientId, secret);

  const first = await srpSignIn({ clientId, secret, username, client });
  t.equal(first.ChallengeName, 'SMS_MFA');
  const signedIn = await respond(clientId, 'SMS_MFA', first.Session, { USERNAME: username, SECRET_HASH: hash, SMS_MFA_CODE: pool.lastCode(username) as string }, client);
  const metadata = signedIn.AuthenticationResult?.NewDeviceMetadata;
  t.match(metadata, { DeviceKey: /^eu-west-1_[0-9a-f-]{36}$/, DeviceGroupKey: /^-\w+$/ });
  const { DeviceKey, DeviceGroupKey } = metadata as { DeviceKey: string; DeviceGroupKey: string };
  t.equal(decodeJwt(signedIn.AuthenticationResult?.AccessToken ?? '')['device_key'], DeviceKey);

  const { DeviceSecretVerifierConfig, DeviceRandomPassword } = createDeviceVerifier(DeviceKey, DeviceGroupKey);
  const confirmed = await client.send(
    new ConfirmDeviceCommand({ AccessToken: signedIn.AuthenticationResult?.AccessToken, DeviceKey, DeviceSecretVerifierConfig, DeviceName: 'laptop' }),
  );
  t.equal(confirmed.UserConfirmationNecessary, false);
  t.match(pool.devices(username), [{ deviceKey: DeviceKey, name: 'laptop', confirmed: true, remembered: true }]);

  // Refresh with a device-bound refresh token needs the DEVICE_KEY.
  const refresh = (deviceKey?: string) =>
    client.send(
      new InitiateAuthCommand({
        ClientId: clientId,
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        AuthParameters: { REFRESH_TOKEN: signedIn.AuthenticationResult?.RefreshToken ?? '', SECRET_HASH: hash, ...(deviceKey ? { DEVICE_KEY: deviceKey } : {}) },
      }),
    );
  await t.rejects(refresh(), { name: 'NotAuthorizedException', message: 'Invalid Refresh Token.' });
  t.ok((await refresh(DeviceKey)).AuthenticationResult?.IdToken);

  // Next sign-in: the device answers DEVICE_SRP_AUTH; no SMS is sent.
  const smsBefore = pool.messages.length;
  const deviceChallenge = await srpSignIn({ clientId, secret, username, deviceKey: DeviceKey, client });
  t.equal(deviceChallenge.ChallengeName, 'DEVICE_SRP_AUTH');
  const srpAnswer = await client.send(
    new RespondToAuthChallengeCommand({
      ClientId: clientId,
      ChallengeName: 'DEVICE_SRP_AUTH',
      ChallengeResponses: { USERNAME: username, SECRET_HASH: hash, DEVICE_KEY: DeviceKey, SRP_A: deviceChallenge.srp.largeA },
      Session: deviceChallenge.Session,
    }),
  );
  t.equal(srpAnswer.ChallengeName, 'DEVICE_PASSWORD_VERIFIER');
  t.match(srpAnswer.ChallengeParameters, { DEVICE_KEY: DeviceKey, USERNAME: username, SALT: /^[0-9a-f]+$/, SRP_B: /^[0-9a-f]+$/ });

  const proveDevice = (randomPassword: string, session = srpAnswer) =>
    client.send(
      new RespondToAuthChallengeCommand(
        wrapAuthChallenge(signSrpSessionWithDevice(deviceChallenge.srp, session, DeviceGroupKey, randomPassword), {
          ClientId: clientId,
          ChallengeName: 'DEVICE_PASSWORD_VERIFIER',
          ChallengeResponses: { USERNAME: username, SECRET_HASH: hash, DEVICE_KEY: DeviceKey },
          Session: session.Session,
        }),
      ),
    );
  await t.rejects(proveDevice('not-the-device-password'), { name: 'NotAuthorizedException' }, 'a wrong device password is refused');

  const again = await srpSignIn({ clientId, secret, username, deviceKey: DeviceKey, client });
  const srpAnswer2 = await client.send(
    new RespondToAuthChallengeCommand({
      ClientId: clientId,
      ChallengeName: 'DEVICE_SRP_AUTH',
      ChallengeResponses: { USERNAME: username, SECRET_HASH: hash, DEVICE_KEY: DeviceKey, SRP_A: again.srp.largeA },
      Session: again.Session,
    }),
  );
  const done = await client.send(
    new RespondToAuthChallengeCommand(
      wrapAuthChallenge(signSrpSessionWithDevice(again.srp, srpAnswer2, DeviceGroupKey, DeviceRandomPassword), {
        ClientId: clientId,
        ChallengeName: 'DEVICE_PASSWORD_VERIFIER',
        ChallengeResponses: { USERNAME: username, SECRET_HASH: hash, DEVICE_KEY: DeviceKey },
        Session: srpAnswer2.Session,
      }),
    ),
  );
  t.ok(done.AuthenticationResult?.IdToken, 'device authentication completes the sign-in');
  t.equal(done.AuthenticationResult?.NewDeviceMetadata, undefined, 'no new device for a remembered one');
  t.equal(pool.messages.length, smsBefore, 'MFA was skipped: no SMS sent');

  // The refresh token of a device sign-in is bound to that device too.
  const bound = await client.send(
    new GetTokensFromRefreshTokenCommand({ ClientId: clientId, ClientSecret: secret, RefreshToken: done.AuthenticationResult?.RefreshToken, DeviceKey }),
  );
  t.ok(bound.AuthenticationResult?.AccessToken);
});

// --- refresh, rotation, revocation -----------------------------------------------------------------

async function passwordSignIn(clientId: string, username: string, secret?: string): Promise<InitiateAuthCommandOutput> {
  return idp.send(
    new InitiateAuthCommand({
      ClientId: clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: username, PASSWORD, ...(secret ? { SECRET_HASH: secretHash(username, clientId, secret) } : {}) },
    }),
  );
}

t.test('rotation: a new refresh token each time, the old one valid for the grace period, then RefreshTokenReuseException', async (t) => {
  const { clientId, clientSecret } = emu.createClient({ secret: true, rotation: true, gracePeriodSeconds: 10 });
  const secret = clientSecret as string;
  const username = userName('rotate');
  emu.createUser({ username, password: PASSWORD });
  const first = (await passwordSignIn(clientId, username, secret)).AuthenticationResult?.RefreshToken as string;
  const refresh = (token: string, clientSecretValue: string | null = secret) =>
    idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: clientId, ClientSecret: clientSecretValue ?? undefined, RefreshToken: token }));

  await t.rejects(refresh(first, 'wrong-secret-value-000000'), { name: 'NotAuthorizedException' });
  await t.rejects(refresh(first, null), { name: 'NotAuthorizedException', message: /ClientSecret was not received/ });
  const rotated = await refresh(first);
  const second = rotated.AuthenticationResult?.RefreshToken as string;
  t.ok(second);
  t.not(second, first, 'a new refresh token');
  t.ok(decodeJwt(rotated.AuthenticationResult?.IdToken ?? '')['origin_jti'], 'rotated tokens carry origin_jti');

  clockOffsetMs = 9_000;
  const retry = await refresh(first);
  t.equal(retry.AuthenticationResult?.RefreshToken, second, 'a retry inside the grace period gets the same successor');
  clockOffsetMs = 11_000;
  await t.rejects(refresh(first), { name: 'RefreshTokenReuseException' });
  const third = (await refresh(second)).AuthenticationResult?.RefreshToken as string;
  t.ok(third && third !== second);

  await t.rejects(
    idp.send(
      new InitiateAuthCommand({
        ClientId: clientId,
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        AuthParameters: { REFRESH_TOKEN: third, SECRET_HASH: secretHash(username, clientId, secret) },
      }),
    ),
    { name: 'InvalidParameterException', message: 'REFRESH_TOKEN_AUTH flow not enabled for this client' },
  );
});

t.test('rotation with no grace period: reuse fails at once; without rotation no new refresh token', async (t) => {
  const strict = emu.createClient({ rotation: true });
  const username = userName('strict');
  emu.createUser({ username, password: PASSWORD });
  const token = (await passwordSignIn(strict.clientId, username)).AuthenticationResult?.RefreshToken as string;
  await idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: strict.clientId, RefreshToken: token }));
  await t.rejects(idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: strict.clientId, RefreshToken: token })), {
    name: 'RefreshTokenReuseException',
  });

  const plain = emu.createClient();
  const plainToken = (await passwordSignIn(plain.clientId, username)).AuthenticationResult?.RefreshToken as string;
  const out = await idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: plain.clientId, RefreshToken: plainToken }));
  t.ok(out.AuthenticationResult?.IdToken);
  t.equal(out.AuthenticationResult?.RefreshToken, undefined);
  await t.rejects(idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: strict.clientId, RefreshToken: plainToken })), {
    name: 'NotAuthorizedException',
    message: 'Invalid Refresh Token.',
  }, "another client's token is refused");
});

t.test('refresh tokens expire after their lifetime', async (t) => {
  const { clientId } = emu.createClient({ lifetimes: { refreshTokenSeconds: 3600 } });
  const username = userName('expire');
  emu.createUser({ username, password: PASSWORD });
  const token = (await passwordSignIn(clientId, username)).AuthenticationResult?.RefreshToken as string;
  clockOffsetMs = 3601_000;
  await t.rejects(idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: clientId, RefreshToken: token })), {
    name: 'NotAuthorizedException',
    message: /expired/,
  });
});

t.test('GlobalSignOut ends every refresh token and access token of the user', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('global');
  emu.createUser({ username, password: PASSWORD });
  const a = (await passwordSignIn(clientId, username)).AuthenticationResult;
  const b = (await passwordSignIn(clientId, username)).AuthenticationResult;
  const other = userName('bystander');
  emu.createUser({ username: other, password: PASSWORD });
  const c = (await passwordSignIn(clientId, other)).AuthenticationResult;
  t.match(await idp.send(new GetUserCommand({ AccessToken: a?.AccessToken })), { Username: username });

  await idp.send(new GlobalSignOutCommand({ AccessToken: a?.AccessToken }));
  for (const token of [a?.RefreshToken, b?.RefreshToken]) {
    await t.rejects(
      idp.send(new InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'REFRESH_TOKEN_AUTH', AuthParameters: { REFRESH_TOKEN: token ?? '' } })),
      { name: 'NotAuthorizedException', message: /revoked/ },
    );
  }
  await t.rejects(idp.send(new GetUserCommand({ AccessToken: b?.AccessToken })), { name: 'NotAuthorizedException', message: /revoked/ });
  const stillFine = await idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: clientId, RefreshToken: c?.RefreshToken }));
  t.ok(stillFine.AuthenticationResult?.IdToken, "another user's session is untouched");
});

t.test('RevokeToken ends one refresh token and the tokens issued from it', async (t) => {
  const { clientId, clientSecret } = emu.createClient({ secret: true });
  const secret = clientSecret as string;
  const username = userName('revoke');
  emu.createUser({ username, password: PASSWORD });
  const a = (await passwordSignIn(clientId, username, secret)).AuthenticationResult;
  const b = (await passwordSignIn(clientId, username, secret)).AuthenticationResult;

  await t.rejects(idp.send(new RevokeTokenCommand({ ClientId: clientId, Token: a?.RefreshToken })), { name: 'UnauthorizedException' });
  await t.rejects(idp.send(new RevokeTokenCommand({ ClientId: clientId, ClientSecret: 'x'.repeat(51), Token: a?.RefreshToken })), {
    name: 'UnauthorizedException',
  });
  await t.rejects(idp.send(new RevokeTokenCommand({ ClientId: clientId, ClientSecret: secret, Token: a?.AccessToken })), {
    name: 'UnsupportedTokenTypeException',
  });
  await idp.send(new RevokeTokenCommand({ ClientId: clientId, ClientSecret: secret, Token: a?.RefreshToken }));
  await t.rejects(idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: clientId, ClientSecret: secret, RefreshToken: a?.RefreshToken })), {
    name: 'NotAuthorizedException',
  });
  await t.rejects(idp.send(new GetUserCommand({ AccessToken: a?.AccessToken })), { name: 'NotAuthorizedException' });
  const other = await idp.send(new GetTokensFromRefreshTokenCommand({ ClientId: clientId, ClientSecret: secret, RefreshToken: b?.RefreshToken }));
  t.ok(other.AuthenticationResult?.IdToken, 'the other sign-in still refreshes');
});

// --- managed login (OAuth) --------------------------------------------------------------------

const REDIRECT = 'http://127.0.0.1:53682/callback';

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function authorize(clientId: string, username: string, password: string, challenge: string, state = 'st-123'): Promise<Response> {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    state,
    scope: 'openid email',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return fetch(`${emu.url}/oauth2/authorize?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }),
    redirect: 'manual',
  });
}

async function tokenRequest(form: Record<string, string>, basic?: { clientId: string; secret: string }): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${emu.url}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(basic ? { authorization: `Basic ${Buffer.from(`${basic.clientId}:${basic.secret}`).toString('base64')}` } : {}),
    },
    body: new URLSearchParams(form),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

t.test('managed login: authorize with PKCE and state, exchange the code, refresh', async (t) => {
  const { clientId } = emu.createClient({ callbackUrls: [REDIRECT] });
  const username = userName('browser');
  emu.createUser({ username, password: PASSWORD, email: `${username}@example.com` });
  const { verifier, challenge } = pkcePair();

  const page = await fetch(
    `${emu.url}/oauth2/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, state: 's', code_challenge: challenge, code_challenge_method: 'S256' })}`,
  );
  t.equal(page.status, 200);
  const html = await page.text();
  t.match(html, /<form method="post" action="\/oauth2\/authorize">/);
  t.match(html, new RegExp(`name="code_challenge" value="${challenge}"`));

  const mismatch = await fetch(`${emu.url}/oauth2/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:53683/callback' })}`, {
    redirect: 'manual',
  });
  t.equal(mismatch.status, 400, 'another port is another URL: no redirect');

  const wrong = await authorize(clientId, username, 'bad password', challenge);
  t.equal(wrong.status, 200);
  t.match(await wrong.text(), /Incorrect username or password/);

  const ok = await authorize(clientId, username, PASSWORD, challenge, 'state-xyz');
  t.equal(ok.status, 302);
  const location = new URL(ok.headers.get('location') ?? '');
  t.equal(`${location.origin}${location.pathname}`, REDIRECT);
  t.equal(location.searchParams.get('state'), 'state-xyz');
  const code = location.searchParams.get('code') ?? '';
  t.ok(code);

  const badVerifier = await tokenRequest({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: pkcePair().verifier });
  t.same(badVerifier.status, 400);
  t.equal(badVerifier.json['error'], 'invalid_grant');
  const used = await tokenRequest({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: REDIRECT, code_verifier: verifier });
  t.equal(used.json['error'], 'invalid_grant', 'a code is spent by its first exchange, even a failed one');

  const second = new URL((await authorize(clientId, username, PASSWORD, challenge)).headers.get('location') ?? '').searchParams.get('code') ?? '';
  const tokens = await tokenRequest({ grant_type: 'authorization_code', client_id: clientId, code: second, redirect_uri: REDIRECT, code_verifier: verifier });
  t.equal(tokens.status, 200);
  t.match(tokens.json, { token_type: 'Bearer', expires_in: 600, id_token: /^ey/, access_token: /^ey/, refresh_token: /\./ });
  t.match(decodeJwt(tokens.json['id_token'] as string), { iss: emu.issuer, aud: clientId, 'cognito:username': username, token_use: 'id' });

  const refreshed = await tokenRequest({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.json['refresh_token'] as string });
  t.equal(refreshed.status, 200);
  t.ok(refreshed.json['id_token']);
  t.equal(refreshed.json['refresh_token'], undefined, 'no rotation: no new refresh token');

  const info = await fetch(`${emu.url}/oauth2/userInfo`, { headers: { authorization: `Bearer ${tokens.json['access_token'] as string}` } });
  t.match(await info.json(), { username, email: `${username}@example.com` });

  const revoke = await fetch(`${emu.url}/oauth2/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: tokens.json['refresh_token'] as string, client_id: clientId }),
  });
  t.equal(revoke.status, 200);
  const afterRevoke = await tokenRequest({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.json['refresh_token'] as string });
  t.equal(afterRevoke.json['error'], 'invalid_grant');
  t.ok(emu.calls['oauth2/token'] >= 5);
});

t.test('managed login: a client with a secret authenticates with HTTP Basic, and rotation applies to the refresh grant', async (t) => {
  const { clientId, clientSecret } = emu.createClient({ callbackUrls: [REDIRECT], secret: true, rotation: true });
  const secret = clientSecret as string;
  const username = userName('basic');
  emu.createUser({ username, password: PASSWORD });
  const { verifier, challenge } = pkcePair();
  const code = () => authorize(clientId, username, PASSWORD, challenge).then((r) => new URL(r.headers.get('location') ?? '').searchParams.get('code') ?? '');

  const noAuth = await tokenRequest({ grant_type: 'authorization_code', client_id: clientId, code: await code(), redirect_uri: REDIRECT, code_verifier: verifier });
  t.equal(noAuth.json['error'], 'invalid_client');
  const wrongAuth = await tokenRequest(
    { grant_type: 'authorization_code', code: await code(), redirect_uri: REDIRECT, code_verifier: verifier },
    { clientId, secret: 'wrong' },
  );
  t.equal(wrongAuth.json['error'], 'invalid_client');
  const tokens = await tokenRequest({ grant_type: 'authorization_code', code: await code(), redirect_uri: REDIRECT, code_verifier: verifier }, { clientId, secret });
  t.equal(tokens.status, 200);
  const first = tokens.json['refresh_token'] as string;
  const rotated = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first }, { clientId, secret });
  t.ok(rotated.json['refresh_token'] && rotated.json['refresh_token'] !== first, 'the refresh grant rotates');
  const reused = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first }, { clientId, secret });
  t.equal(reused.json['error'], 'invalid_grant');
});

t.test('the discovery document and JWKS are served under the pool id', async (t) => {
  const config = (await (await fetch(`${emu.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  t.match(config, {
    issuer: emu.issuer,
    authorization_endpoint: `${emu.url}/oauth2/authorize`,
    token_endpoint: `${emu.url}/oauth2/token`,
    revocation_endpoint: `${emu.url}/oauth2/revoke`,
    jwks_uri: emu.jwksUri,
  });
  const jwks = (await (await fetch(emu.jwksUri)).json()) as { keys: Record<string, unknown>[] };
  t.match(jwks.keys, [{ kty: 'RSA', alg: 'RS256', use: 'sig', kid: String }]);
  t.notOk('d' in (jwks.keys[0] ?? {}), 'no private key material');
});

// --- the identity pool trusts it ------------------------------------------------------------------

t.test('its ID tokens buy credentials from the identity pool emulator, with the role from the groups', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('idpool');
  emu.createUser({
    username,
    password: PASSWORD,
    groups: [
      { name: 'admins', roleArn: ADMIN_ROLE, precedence: 5 },
      { name: 'readers', roleArn: READER_ROLE, precedence: 1 },
    ],
  });
  const identity = await startIdentityPoolEmulator({ region: REGION, providers: { [emu.loginsKey]: emu.identityProvider([clientId]) }, now });
  const cognitoIdentity = new CognitoIdentityClient({ region: REGION, endpoint: identity.url, maxAttempts: 1 });
  t.teardown(async () => {
    cognitoIdentity.destroy();
    await identity.close();
  });
  const idToken = (await srpSignIn({ clientId, username })).AuthenticationResult?.IdToken as string;
  t.match(decodeJwt(idToken), { 'cognito:groups': ['readers', 'admins'], 'cognito:roles': [READER_ROLE, ADMIN_ROLE], 'cognito:preferred_role': READER_ROLE });
  const Logins = { [emu.loginsKey]: idToken };
  const { IdentityId } = await cognitoIdentity.send(new GetIdCommand({ IdentityPoolId: identity.identityPoolId, Logins }));
  const creds = await cognitoIdentity.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins }));
  t.equal(identity.lookupCredentials(creds.Credentials?.AccessKeyId ?? '')?.roleArn, READER_ROLE);
  const custom = await cognitoIdentity.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins, CustomRoleArn: ADMIN_ROLE }));
  t.equal(identity.lookupCredentials(custom.Credentials?.AccessKeyId ?? '')?.roleArn, ADMIN_ROLE);
  const { AccessToken } = (await srpSignIn({ clientId, username })).AuthenticationResult ?? {};
  await t.rejects(
    cognitoIdentity.send(new GetIdCommand({ IdentityPoolId: identity.identityPoolId, Logins: { [emu.loginsKey]: AccessToken ?? '' } })),
    { name: 'NotAuthorizedException' },
    'an access token is not accepted',
  );
});

// --- hooks and bad input -------------------------------------------------------------------------

t.test('failNext answers with the injected fault; the SDK maps it to its class', async (t) => {
  const { clientId } = emu.createClient();
  const username = userName('fault');
  emu.createUser({ username, password: PASSWORD });
  emu.failNext('InitiateAuth', { type: 'TooManyRequestsException', message: 'Rate exceeded' });
  await t.rejects(passwordSignIn(clientId, username), { name: 'TooManyRequestsException', message: 'Rate exceeded' });
  emu.failNext('InitiateAuth', { type: 'InternalErrorException', status: 500 });
  await t.rejects(passwordSignIn(clientId, username), { name: 'InternalErrorException', $metadata: { httpStatusCode: 500 } });
  t.ok((await passwordSignIn(clientId, username)).AuthenticationResult);
  emu.failNext('oauth2/token', { type: 'server_error', status: 503 });
  const res = await tokenRequest({ grant_type: 'refresh_token', client_id: clientId, refresh_token: 'x' });
  t.match(res, { status: 503, json: { error: 'server_error' } });
});

async function post(body: string, target = 'AWSCognitoIdentityProviderService.InitiateAuth') {
  const res = await fetch(emu.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target }, body });
  return { status: res.status, contentType: res.headers.get('content-type'), json: (await res.json()) as Record<string, unknown> };
}

t.test('malformed requests get a clean 400 JSON error and the server keeps serving', async (t) => {
  t.match(await post('{not json'), { status: 400, contentType: 'application/x-amz-json-1.1', json: { __type: 'SerializationException' } });
  t.match(await post('{}', 'AWSCognitoIdentityProviderService.AdminDeleteUser'), { status: 400, json: { __type: 'UnknownOperationException' } });
  t.match(await post('{}'), { status: 400, json: { __type: 'InvalidParameterException', message: /clientId/ } });
  const { clientId } = emu.createClient();
  t.match(await post(JSON.stringify({ ClientId: clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: 'x' } })), {
    status: 400,
    json: { __type: 'InvalidParameterException', message: 'Missing required parameter SRP_A' },
  });
  t.match(await post(JSON.stringify({ ClientId: clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: 'x', SRP_A: '0' } })), {
    status: 400,
    json: { __type: 'InvalidParameterException' },
  });
  t.match(await post(JSON.stringify({ ClientId: clientId, AuthFlow: 'CUSTOM_AUTH', AuthParameters: {} })), { status: 400, json: { __type: 'InvalidParameterException' } });
  t.match(await post(JSON.stringify({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 7 } })), {
    status: 400,
    json: { __type: 'SerializationException' },
  });
  t.match(await post('x'.repeat(200_000)), { status: 413 });
  t.equal((await fetch(`${emu.url}/nowhere`)).status, 404);
  const username = userName('after-garbage');
  emu.createUser({ username, password: PASSWORD });
  t.ok((await passwordSignIn(clientId, username)).AuthenticationResult, 'still serving');
});

// --- local stack ---------------------------------------------------------------------------------

t.test('startLocalStack({ userPoolEmulator }) runs it next to cognito-local and the identity pool trusts both', async (t) => {
  const stack = await startLocalStack({
    region: REGION,
    username: 'stack-user',
    userPoolEmulator: { primary: true, client: { secret: true, rotation: true, gracePeriodSeconds: 5 }, user: { mfa: 'totp' } },
  });
  t.teardown(() => stack.stop());
  const upe = stack.userPoolEmulator;
  if (!upe) throw new Error('no user-pool emulator in the stack');
  t.equal(stack.profile, upe.profile, 'primary: the stack profile is the emulator one');
  t.match(stack.profile, { region: REGION, userPoolId: upe.emulator.userPoolId, clientId: upe.clientId, username: 'stack-user' });
  t.equal(stack.profile.endpoints.cognitoIdp, upe.emulator.url);
  t.equal(stack.issuer, upe.emulator.issuer);
  t.equal(stack.password, upe.password);
  t.ok(stack.cognitoLocalPid > 0, 'cognito-local still runs');

  const client = new CognitoIdentityProviderClient({ region: REGION, endpoint: stack.profile.endpoints.cognitoIdp, maxAttempts: 1 });
  emulators.set(client, upe.emulator);
  t.teardown(() => client.destroy());
  const secret = upe.clientSecret as string;
  const challenge = await srpSignIn({ clientId: upe.clientId, secret, username: 'stack-user', password: stack.password, client });
  t.equal(challenge.ChallengeName, 'SOFTWARE_TOKEN_MFA');
  const signedIn = await respond(
    upe.clientId,
    'SOFTWARE_TOKEN_MFA',
    challenge.Session,
    { USERNAME: 'stack-user', SECRET_HASH: secretHash('stack-user', upe.clientId, secret), SOFTWARE_TOKEN_MFA_CODE: upe.emulator.totpCode('stack-user') },
    client,
  );
  const identity = new CognitoIdentityClient({ region: REGION, endpoint: stack.profile.endpoints.cognitoIdentity, maxAttempts: 1 });
  t.teardown(() => identity.destroy());
  const Logins = { [stack.loginsKey]: signedIn.AuthenticationResult?.IdToken ?? '' };
  const { IdentityId } = await identity.send(new GetIdCommand({ IdentityPoolId: stack.identityPoolId, Logins }));
  const creds = await identity.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins }));
  t.ok(stack.emulator.lookupCredentials(creds.Credentials?.AccessKeyId ?? ''), 'the identity pool issued credentials for its token');

  // A client created later is trusted too (the provider entry lists the pool's clients live).
  const later = upe.emulator.createClient();
  await stack.createUser('stack-user-2', PASSWORD);
  const laterToken = (await srpSignIn({ clientId: later.clientId, username: 'stack-user-2', client })).AuthenticationResult?.IdToken ?? '';
  const other = await identity.send(new GetIdCommand({ IdentityPoolId: stack.identityPoolId, Logins: { [stack.loginsKey]: laterToken } }));
  t.not(other.IdentityId, IdentityId);
});
