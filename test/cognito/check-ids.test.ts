import t from 'tap';
import { checkCognitoIds } from '../../src/cognito/check-ids.js';

const IDS = { region: 'eu-west-1', userPoolId: 'eu-west-1_AbCdEf123', clientId: 'abc123', identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666' };

/** A Cognito answering each call as `answer` says; records what was sent. */
function cognito(answer: (url: string, target: string | undefined) => { status: number; body?: unknown } | Error) {
  const sent: { url: string; target?: string | undefined; body?: string | undefined; auth?: string | undefined }[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const headers = (init?.headers ?? {}) as Record<string, string>;
    sent.push({ url, target: headers['x-amz-target'], body: init?.body as string | undefined, auth: headers.authorization });
    const a = answer(url, headers['x-amz-target']);
    if (a instanceof Error) throw a;
    return new Response(a.body === undefined ? '' : JSON.stringify(a.body), { status: a.status });
  }) as typeof fetch;
  return { sent, fetchImpl };
}

const real = (url: string, target: string | undefined) => {
  if (url.endsWith('/openid-configuration')) return { status: 200, body: { issuer: 'x', jwks_uri: 'y' } };
  if (url.endsWith('/jwks.json')) return { status: 200, body: { keys: [{ kid: '1' }] } };
  if (target?.endsWith('InitiateAuth')) return { status: 400, body: { __type: 'NotAuthorizedException', message: 'Invalid Refresh Token' } };
  return { status: 400, body: { __type: 'NotAuthorizedException', message: 'Invalid login token.' } };
};

t.test('AWS\'s own endpoints for the region, no credentials, nothing secret, no sign-in', async (t) => {
  const { sent, fetchImpl } = cognito(real);
  const checks = await checkCognitoIds(IDS, fetchImpl);
  t.same(checks.map((c) => [c.field, c.outcome]), [['userPoolId', 'found'], ['clientId', 'found'], ['identityPoolId', 'found']]);
  t.same(sent.map((s) => s.url).sort(), [
    'https://cognito-identity.eu-west-1.amazonaws.com/',
    'https://cognito-idp.eu-west-1.amazonaws.com/',
    'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json',
    'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/openid-configuration',
  ]);
  t.ok(sent.every((s) => s.auth === undefined), 'unsigned');
  const getId = JSON.parse(sent.find((s) => s.target === 'AWSCognitoIdentityService.GetId')?.body ?? '{}') as { Logins?: Record<string, string> };
  t.ok(getId.Logins && Object.keys(getId.Logins).length === 1, 'GetId carries a login, so that no unauthenticated identity is made');
});

t.test('ResourceNotFoundException and a 4xx well-known document name the unknown ids', async (t) => {
  const { fetchImpl } = cognito((url, target) => {
    if (url.includes('/.well-known/')) return { status: 400, body: { code: 'ResourceNotFoundException', message: 'User pool eu-west-1_AbCdEf123 does not exist.' } };
    return { status: 400, body: { __type: target?.endsWith('GetId') ? 'ResourceNotFoundException' : 'com.amazonaws#ResourceNotFoundException', message: 'not found' } };
  });
  const checks = await checkCognitoIds(IDS, fetchImpl);
  t.same(checks.map((c) => c.outcome), ['unknown', 'unknown', 'unknown']);
  t.match(checks[0]?.detail, /no user pool eu-west-1_AbCdEf123 there: .*answered HTTP 400 \("User pool eu-west-1_AbCdEf123 does not exist\."\)/);
});

t.test('no answer that tells (network, 5xx, throttling, keys missing) is unchecked, never unknown', async (t) => {
  const offline = await checkCognitoIds(IDS, cognito(() => new TypeError('fetch failed')).fetchImpl);
  t.same(offline.map((c) => c.outcome), ['unchecked', 'unchecked', 'unchecked']);
  const failing = await checkCognitoIds(IDS, cognito((url, target) => (url.endsWith('openid-configuration') ? { status: 503 } : target?.endsWith('GetId') ? { status: 400, body: { __type: 'TooManyRequestsException' } } : { status: 500, body: { __type: 'InternalErrorException' } })).fetchImpl);
  t.same(failing.map((c) => c.outcome), ['unchecked', 'unchecked', 'unchecked']);
  const noKeys = await checkCognitoIds(IDS, cognito((url, target) => (url.endsWith('jwks.json') ? { status: 200, body: { keys: [] } } : real(url, target))).fetchImpl);
  t.equal(noKeys[0]?.outcome, 'unchecked');
});
