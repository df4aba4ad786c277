import t from 'tap';
import { MfaCodeMismatchError, UpstreamUnavailableError } from '../../src/errors.js';
import { confirmNewDevice, otpauthUri, signIn, type SignInClient, type SignInQuestion, type SignInRequest } from '../../src/cognito/sign-in.js';
import type { AuthChallenge, SignInContext, SignInStep } from '../../src/cognito/user-pool-client.js';
import { SignInRefusedError, UnsupportedByServerError } from '../../src/errors.js';

const tokens = { idToken: 'i', accessToken: 'a', refreshToken: 'r', issuedAt: 0, expiresAt: 1 };
const done: SignInStep = { kind: 'signed-in', tokens };
const challenge = (name: string, parameters: Record<string, string> = {}): SignInStep => ({
  kind: 'challenge',
  challenge: { name, session: `session-${name}`, username: 'internal-id', parameters },
});

type Reply = SignInStep | Error;
interface Call {
  api: string;
  flow?: string;
  parameters?: Record<string, string>;
  challenge?: AuthChallenge;
  answers?: Record<string, string>;
  context?: SignInContext;
  session?: string;
  code?: string;
}

/**
 * A user pool that plays a script: each InitiateAuth / RespondToAuthChallenge call gets the
 * next reply (a step, or an error to throw), and every call is recorded. The answers'
 * shapes are checked against the documented names; the integration tests run the same
 * flows against the user-pool emulator.
 */
function scriptedPool(replies: Reply[], totp: { secretCode?: string; verify?: Error[] } = {}) {
  const calls: Call[] = [];
  let next = 0;
  const reply = async (): Promise<SignInStep> => {
    const r = replies[next++];
    if (r === undefined) throw new Error('the script ran out');
    if (r instanceof Error) throw r;
    return r;
  };
  const verifyErrors = [...(totp.verify ?? [])];
  const pool: SignInClient & { calls: Call[] } = {
    calls,
    async initiateAuth(flow, _username, parameters, context) {
      calls.push({ api: 'InitiateAuth', flow, parameters: { ...parameters }, context });
      return reply();
    },
    async respondToChallenge(c, answers, context) {
      calls.push({ api: 'RespondToAuthChallenge', challenge: c, answers: { ...answers }, context });
      return reply();
    },
    async associateSoftwareToken(session) {
      calls.push({ api: 'AssociateSoftwareToken', session });
      return { secretCode: totp.secretCode ?? 'JBSWY3DPEHPK3PXP', session: 'session-associated' };
    },
    async verifySoftwareToken(session, code) {
      calls.push({ api: 'VerifySoftwareToken', session, code });
      const error = verifyErrors.shift();
      if (error) throw error;
      return { session: 'session-verified' };
    },
  };
  return pool;
}

function request(overrides: Partial<SignInRequest> & { answers?: (q: SignInQuestion) => string } = {}): SignInRequest & { asked: SignInQuestion[] } {
  const asked: SignInQuestion[] = [];
  const { answers, ...rest } = overrides;
  return {
    flow: 'user-password',
    userPoolId: 'eu-west-1_Pool123',
    username: 'alice@example.com',
    password: 'pw',
    ask: async (q) => {
      asked.push(q);
      if (answers) return answers(q);
      return q.kind === 'new-password' ? 'new-pw' : '123456';
    },
    asked,
    ...rest,
  };
}

const responses = (pool: { calls: Call[] }) => pool.calls.filter((c) => c.api === 'RespondToAuthChallenge').map((c) => c.answers);

t.test('USER_PASSWORD_AUTH answers NEW_PASSWORD_REQUIRED, SMS_MFA, SOFTWARE_TOKEN_MFA and EMAIL_OTP with the documented parameters', async (t) => {
  const pool = scriptedPool([
    challenge('NEW_PASSWORD_REQUIRED', { requiredAttributes: '["userAttributes.name","userAttributes.phone_number"]', userAttributes: '{"email":"a@example.com"}' }),
    challenge('SMS_MFA', { CODE_DELIVERY_DESTINATION: '+*******1234' }),
    challenge('SOFTWARE_TOKEN_MFA'),
    challenge('EMAIL_OTP', { CODE_DELIVERY_DESTINATION: 'a***@e***' }),
    done,
  ]);
  const req = request({ answers: (q) => (q.kind === 'new-password' ? 'new-pw' : q.kind === 'attribute' ? `value-of-${q.name}` : ' 123456 ') });
  const result = await signIn(pool, req);
  t.equal(result.tokens.refreshToken, 'r');
  t.same(pool.calls[0], { api: 'InitiateAuth', flow: 'USER_PASSWORD_AUTH', parameters: { PASSWORD: 'pw' }, context: { clientSecret: undefined, deviceKey: undefined } });
  t.same(responses(pool), [
    { NEW_PASSWORD: 'new-pw', 'userAttributes.name': 'value-of-name', 'userAttributes.phone_number': 'value-of-phone_number' },
    { SMS_MFA_CODE: '123456' },
    { SOFTWARE_TOKEN_MFA_CODE: '123456' },
    { EMAIL_OTP_CODE: '123456' },
  ]);
  t.same(req.asked, [
    { kind: 'new-password', refused: undefined },
    { kind: 'attribute', name: 'name' },
    { kind: 'attribute', name: 'phone_number' },
    { kind: 'mfa-code', method: 'SMS', destination: '+*******1234', refused: undefined },
    { kind: 'mfa-code', method: 'TOTP', destination: undefined, refused: undefined },
    { kind: 'mfa-code', method: 'EMAIL', destination: 'a***@e***', refused: undefined },
  ]);
  t.ok(pool.calls.slice(1).every((c) => c.challenge?.session === `session-${c.challenge?.name}`), 'each answer carries its session unchanged');
  t.equal(result.cognitoUsername, 'internal-id', 'the pool\'s own name, from the challenges');
});

t.test('SRP: InitiateAuth sends SRP_A, never the password, and PASSWORD_VERIFIER is answered with a proof', async (t) => {
  const pool = scriptedPool([
    challenge('PASSWORD_VERIFIER', { SALT: 'abcdef0123', SRP_B: 'f'.repeat(768), SECRET_BLOCK: 'c2VjcmV0LWJsb2Nr', USER_ID_FOR_SRP: 'internal-id' }),
    done,
  ]);
  await signIn(pool, request({ flow: 'srp', password: 'Sup3r-secret' }));
  const start = pool.calls[0] as Call;
  t.equal(start.flow, 'USER_SRP_AUTH');
  t.match(start.parameters, { SRP_A: /^[0-9a-f]{700,}$/ });
  t.notOk(JSON.stringify(pool.calls).includes('Sup3r-secret'), 'the password is in no call');
  t.match(responses(pool)[0], { PASSWORD_CLAIM_SECRET_BLOCK: 'c2VjcmV0LWJsb2Nr', PASSWORD_CLAIM_SIGNATURE: /^[A-Za-z0-9+/]+=*$/, TIMESTAMP: /^[A-Z][a-z]{2} [A-Z][a-z]{2} [1-9]\d? \d\d:\d\d:\d\d UTC \d{4}$/ });
});

t.test('the client secret and the remembered device go with every call', async (t) => {
  const pool = scriptedPool([challenge('SMS_MFA'), done]);
  await signIn(pool, request({ clientSecret: 'shh', device: undefined }));
  t.ok(pool.calls.every((c) => c.context?.clientSecret === 'shh'));
});

t.test('a wrong code says so and is asked again within the same challenge session', async (t) => {
  const wrong = new MfaCodeMismatchError('The user pool refused the code (CodeMismatchException: Invalid code received for user).');
  const pool = scriptedPool([challenge('SOFTWARE_TOKEN_MFA'), wrong, done]);
  const codes = ['111111', '222222'];
  const req = request({ answers: () => codes.shift() as string });
  await signIn(pool, req);
  t.same(responses(pool), [{ SOFTWARE_TOKEN_MFA_CODE: '111111' }, { SOFTWARE_TOKEN_MFA_CODE: '222222' }]);
  t.same(req.asked.map((q) => q.kind === 'mfa-code' && q.refused), [undefined, wrong.message]);
  const sessions = pool.calls.filter((c) => c.challenge).map((c) => c.challenge?.session);
  t.same(sessions, ['session-SOFTWARE_TOKEN_MFA', 'session-SOFTWARE_TOKEN_MFA'], 'the same session both times');
});

t.test('three wrong codes end the sign-in with BRK_ERR_MFA_CODE_MISMATCH', async (t) => {
  const wrong = () => new MfaCodeMismatchError('wrong');
  const pool = scriptedPool([challenge('SMS_MFA'), wrong(), wrong(), wrong(), done]);
  await t.rejects(signIn(pool, request()), { code: 'BRK_ERR_MFA_CODE_MISMATCH' });
  t.equal(responses(pool).length, 3);
});

t.test('a new password the policy refuses is asked again; required attributes only once', async (t) => {
  const policy = new SignInRefusedError('InvalidPasswordException', 'Sign-in refused by the user pool: Password does not conform to policy: Password not long enough');
  const pool = scriptedPool([challenge('NEW_PASSWORD_REQUIRED', { requiredAttributes: '["userAttributes.name"]' }), policy, done]);
  const passwords = ['short', 'Long-enough-1'];
  const req = request({ answers: (q) => (q.kind === 'new-password' ? (passwords.shift() as string) : 'Alice') });
  await signIn(pool, req);
  t.same(responses(pool), [
    { NEW_PASSWORD: 'short', 'userAttributes.name': 'Alice' },
    { NEW_PASSWORD: 'Long-enough-1', 'userAttributes.name': 'Alice' },
  ]);
  t.same(req.asked.map((q) => q.kind), ['new-password', 'attribute', 'new-password']);
  t.match(req.asked[2], { refused: /not long enough/ });
});

t.test('SELECT_MFA_TYPE asks which method and answers with its challenge name; one choice is taken without asking', async (t) => {
  const pool = scriptedPool([challenge('SELECT_MFA_TYPE', { MFAS_CAN_CHOOSE: '["SMS_MFA","SOFTWARE_TOKEN_MFA"]' }), challenge('SOFTWARE_TOKEN_MFA'), done]);
  const req = request({ answers: (q) => (q.kind === 'mfa-method' ? 'TOTP' : '654321') });
  await signIn(pool, req);
  t.same(req.asked[0], { kind: 'mfa-method', options: ['SMS', 'TOTP'] });
  t.same(responses(pool), [{ ANSWER: 'SOFTWARE_TOKEN_MFA' }, { SOFTWARE_TOKEN_MFA_CODE: '654321' }]);

  const single = scriptedPool([challenge('SELECT_MFA_TYPE', { MFAS_CAN_CHOOSE: '["EMAIL_OTP"]' }), challenge('EMAIL_OTP'), done]);
  const req2 = request();
  await signIn(single, req2);
  t.same(responses(single)[0], { ANSWER: 'EMAIL_OTP' });
  t.equal(req2.asked[0]?.kind, 'mfa-code', 'not asked to choose');
});

t.test('MFA_SETUP enrols an authenticator app: associate, show the otpauth URI, verify (again after a wrong code), answer with the verified session', async (t) => {
  const pool = scriptedPool([challenge('MFA_SETUP', { MFAS_CAN_SETUP: '["SMS_MFA","SOFTWARE_TOKEN_MFA"]' }), done], {
    secretCode: 'ABCDEFGHIJKLMNOP',
    verify: [new MfaCodeMismatchError('Code mismatch')],
  });
  const codes = ['000000', '123456'];
  const req = request({ username: 'alice@example.com', totpIssuer: 'Cognito eu-west-1_Pool123', answers: () => codes.shift() as string });
  await signIn(pool, req);
  t.same(pool.calls.map((c) => c.api), ['InitiateAuth', 'AssociateSoftwareToken', 'VerifySoftwareToken', 'VerifySoftwareToken', 'RespondToAuthChallenge']);
  t.equal(pool.calls[1]?.session, 'session-MFA_SETUP');
  t.same(pool.calls.slice(2, 4).map((c) => [c.session, c.code]), [['session-associated', '000000'], ['session-associated', '123456']]);
  const last = pool.calls[4] as Call;
  t.same([last.challenge?.name, last.challenge?.session, last.answers], ['MFA_SETUP', 'session-verified', {}]);
  t.match(req.asked[0], { kind: 'totp-setup', secretCode: 'ABCDEFGHIJKLMNOP', uri: 'otpauth://totp/Cognito%20eu-west-1_Pool123:alice%40example.com?secret=ABCDEFGHIJKLMNOP&issuer=Cognito%20eu-west-1_Pool123' });
  t.match(req.asked[1], { kind: 'totp-setup', refused: 'Code mismatch' });
});

t.test('MFA_SETUP offering only SMS or email enrolment is a clear unsupported challenge', async (t) => {
  const pool = scriptedPool([challenge('MFA_SETUP', { MFAS_CAN_SETUP: '["EMAIL_OTP"]' })]);
  await t.rejects(signIn(pool, request()), { code: 'BRK_ERR_CHALLENGE_UNSUPPORTED', message: /EMAIL_OTP/ });
});

const device = { deviceKey: 'eu-west-1_dev-1', deviceGroupKey: '-grp', devicePassword: 'device-password-xyz' };

t.test('a remembered device answers DEVICE_SRP_AUTH and DEVICE_PASSWORD_VERIFIER instead of MFA', async (t) => {
  const pool = scriptedPool([
    challenge('PASSWORD_VERIFIER', { SALT: 'ab', SRP_B: 'f'.repeat(768), SECRET_BLOCK: 'YmxvY2s=', USER_ID_FOR_SRP: 'internal-id' }),
    challenge('DEVICE_SRP_AUTH'),
    challenge('DEVICE_PASSWORD_VERIFIER', { SALT: 'cd', SRP_B: 'e'.repeat(768), SECRET_BLOCK: 'ZGV2aWNl', DEVICE_KEY: device.deviceKey }),
    done,
  ]);
  const req = request({ flow: 'srp', device });
  const result = await signIn(pool, req);
  t.same(req.asked, [], 'nothing asked');
  t.equal(result.deviceKey, device.deviceKey, 'the session is bound to the device');
  t.ok(pool.calls.every((c) => c.context?.deviceKey === device.deviceKey), 'DEVICE_KEY with every call');
  const [, srpAuth, verifier] = responses(pool);
  t.match(srpAuth, { DEVICE_KEY: device.deviceKey, SRP_A: /^[0-9a-f]+$/ });
  t.match(verifier, { DEVICE_KEY: device.deviceKey, PASSWORD_CLAIM_SECRET_BLOCK: 'ZGV2aWNl', PASSWORD_CLAIM_SIGNATURE: /./, TIMESTAMP: /UTC/ });
  t.notOk(JSON.stringify(pool.calls).includes(device.devicePassword), 'the device password is in no call');
});

t.test('a device the pool refuses is dropped: the sign-in starts again without it and asks for MFA', async (t) => {
  const refused = new SignInRefusedError('NotAuthorizedException', 'Sign-in refused by the user pool: Incorrect username or password.');
  const pool = scriptedPool([challenge('DEVICE_SRP_AUTH'), refused, challenge('SMS_MFA'), done]);
  const req = request({ device });
  const result = await signIn(pool, req);
  t.equal(result.deviceRefused, true);
  t.equal(result.deviceKey, undefined);
  t.same(pool.calls.map((c) => c.context?.deviceKey), [device.deviceKey, device.deviceKey, undefined, undefined]);
  t.equal(req.asked[0]?.kind, 'mfa-code');
});

t.test('an outage during device authentication is not mistaken for a refused device', async (t) => {
  const pool = scriptedPool([challenge('DEVICE_SRP_AUTH'), new UpstreamUnavailableError('down')]);
  await t.rejects(signIn(pool, request({ device })), { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE' });
  t.equal(pool.calls.length, 2);
});

t.test('a wrong password with a remembered device is not retried without it', async (t) => {
  const pool = scriptedPool([new SignInRefusedError('NotAuthorizedException', 'Sign-in refused by the user pool: Incorrect username or password.')]);
  await t.rejects(signIn(pool, request({ device })), { code: 'BRK_ERR_SIGN_IN_FAILED' });
  t.equal(pool.calls.length, 1);
});

const srpUnsupported = () => new UnsupportedByServerError('InitiateAuth', 'does not support InitiateAuth (Unsupported: InitAuth with AuthFlow=USER_SRP_AUTH)');

t.test('a local server without SRP at all (cognito-local) gets USER_PASSWORD_AUTH only when the caller allows it', async (t) => {
  for (const endpoint of ['http://127.0.0.1:9229', 'http://localhost:9229/', 'http://[::1]:9229', 'https://127.0.0.2:8443']) {
    const pool = scriptedPool([srpUnsupported(), done]);
    let told = 0;
    await signIn(pool, request({ flow: 'srp', userPoolEndpoint: endpoint, onSrpUnsupported: () => (told += 1) }));
    t.same(pool.calls.map((c) => c.flow), ['USER_SRP_AUTH', 'USER_PASSWORD_AUTH'], endpoint);
    t.equal(told, 1, 'and the caller is told');
  }

  const strict = scriptedPool([srpUnsupported()]);
  await t.rejects(signIn(strict, request({ flow: 'srp', userPoolEndpoint: 'http://127.0.0.1:9229' })), { code: 'BRK_ERR_SRP_UNSUPPORTED', message: /--auth-flow user-password/ });
  t.equal(strict.calls.length, 1, 'SRP chosen explicitly: never downgraded');
});

t.test('any other server that says it has no SRP is an error naming --auth-flow user-password, and never gets the password', async (t) => {
  const endpoints = [undefined, 'https://cognito-idp.eu-west-1.amazonaws.com', 'http://10.0.0.5:9229', 'http://192.168.1.20', 'https://proxy.example.com/cognito', 'http://localhost.example.com:9229', 'http://user:secret@evil.example.com'];
  for (const endpoint of endpoints) {
    const pool = scriptedPool([srpUnsupported(), done]);
    let told = 0;
    const signingIn = signIn(pool, request({ flow: 'srp', password: 'the-password', userPoolEndpoint: endpoint, onSrpUnsupported: () => (told += 1) }));
    await t.rejects(signingIn, { code: 'BRK_ERR_SRP_UNSUPPORTED', message: /does not implement SRP.*--auth-flow user-password/ }, String(endpoint));
    t.same(pool.calls.map((c) => c.flow), ['USER_SRP_AUTH'], 'no USER_PASSWORD_AUTH');
    t.notOk(JSON.stringify(pool.calls).includes('the-password'), 'the password was not sent');
    t.equal(told, 0);
    const message = await signingIn.then(() => '', (e: Error) => e.message);
    t.notOk(message.includes('secret'), 'the message names the origin only');
  }
});

t.test('an unsupported challenge is a clear error', async (t) => {
  const pool = scriptedPool([challenge('CUSTOM_CHALLENGE')]);
  await t.rejects(signIn(pool, request()), { code: 'BRK_ERR_CHALLENGE_UNSUPPORTED', message: /CUSTOM_CHALLENGE/ });
  const verifier = scriptedPool([challenge('PASSWORD_VERIFIER')]);
  await t.rejects(signIn(verifier, request({ flow: 'user-password' })), { code: 'BRK_ERR_CHALLENGE_UNSUPPORTED' });
});

t.test('a pool that never stops asking is given up on', async (t) => {
  const pool = scriptedPool(Array.from({ length: 20 }, () => challenge('SMS_MFA')));
  await t.rejects(signIn(pool, request()), { code: 'BRK_ERR_SIGN_IN_FAILED' });
});

t.test('confirmNewDevice registers a verifier, agrees when the pool asks the user, and keeps the secrets', async (t) => {
  const calls: string[] = [];
  const client = (necessary: boolean) => ({
    async confirmDevice(_token: string, key: string, verifier: { passwordVerifier: string; salt: string }) {
      calls.push(`confirm ${key} ${verifier.passwordVerifier.length > 100} ${verifier.salt.length > 0}`);
      return { userConfirmationNecessary: necessary };
    },
    async rememberDevice(_token: string, key: string) {
      calls.push(`remember ${key}`);
    },
  });
  const meta = { deviceKey: 'k1', deviceGroupKey: 'g1' };
  const kept = await confirmNewDevice(client(false), 'access', meta, 'laptop');
  t.match(kept, { deviceKey: 'k1', deviceGroupKey: 'g1', devicePassword: /.{40,}/ });
  t.same(calls, ['confirm k1 true true']);
  calls.length = 0;
  t.ok(await confirmNewDevice(client(true), 'access', meta, 'laptop'));
  t.same(calls, ['confirm k1 true true', 'remember k1']);
});

t.test('otpauth URIs escape the issuer and account', async (t) => {
  t.equal(otpauthUri('My Pool', 'a b@c', 'SECRET'), 'otpauth://totp/My%20Pool:a%20b%40c?secret=SECRET&issuer=My%20Pool');
});
