import { NotAuthorizedException, TooManyRequestsException, InvalidParameterException } from '@aws-sdk/client-cognito-identity-provider';
import { ResourceNotFoundException } from '@aws-sdk/client-cognito-identity';
import t from 'tap';
import { isUnknownOperation, scrub, translateAwsError } from '../../src/cognito/translate-aws-error.js';
import { UpstreamUnavailableError } from '../../src/errors.js';
import { IdentityPoolError, SignInRefusedError, UnsupportedByServerError } from '../../src/errors.js';

const meta = { $metadata: {} };

t.test('a refused refresh token means login required, naming the command', async (t) => {
  const error = translateAwsError(new NotAuthorizedException({ message: 'Refresh Token has been revoked', ...meta }), 'refresh', 'work');
  t.match(error, { code: 'BRK_ERR_LOGIN_REQUIRED', statusCode: 503, retryable: false, message: /cognito-broker login --profile work/ });
});

t.test('a refused password is a sign-in failure, not login required', async (t) => {
  const error = translateAwsError(new NotAuthorizedException({ message: 'Incorrect username or password.', ...meta }), 'sign-in', 'default');
  t.match(error, { code: 'BRK_ERR_SIGN_IN_FAILED', message: /Incorrect username or password/ });
});

t.test('throttling, 5xx and network errors are retryable upstream outages', async (t) => {
  const cases: unknown[] = [
    new TooManyRequestsException({ message: 'slow down', ...meta }),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    Object.assign(new Error('boom'), { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }),
    Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
  ];
  for (const c of cases) t.match(translateAwsError(c, 'get-credentials', 'default'), { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', retryable: true, statusCode: 503 });
});

t.test('identity-pool refusals keep the AWS error name for the broker to act on', async (t) => {
  const error = translateAwsError(new ResourceNotFoundException({ message: 'Identity not found', $metadata: {} }), 'get-credentials', 'default');
  t.type(error, IdentityPoolError);
  t.equal((error as IdentityPoolError).awsName, 'ResourceNotFoundException');
  t.equal(error.code, 'BRK_ERR_UPSTREAM_REJECTED');
});

t.test('other user-pool refusals point at the profile settings', async (t) => {
  const error = translateAwsError(new InvalidParameterException({ message: 'bad client', ...meta }), 'refresh', 'default');
  t.match(error, { code: 'BRK_ERR_UPSTREAM_REJECTED', message: /userPoolId, clientId and region/ });
});

t.test('tokens quoted in upstream messages never reach our message', async (t) => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
  const error = translateAwsError(new NotAuthorizedException({ message: `Invalid login token ${jwt}`, ...meta }), 'get-id', 'default');
  t.notMatch(error.message, /eyJ/);
  t.equal(scrub(`x ${'A'.repeat(60)} y`), 'x [redacted] y');
});

/** What the SDK throws when an answer arrived but could not be deserialized (seen with @smithy/core 3.x). */
function unreadable(status: number, body: string): Error {
  const error = Object.assign(new SyntaxError(`Unexpected token '<', "${body.slice(0, 10)}"... is not valid JSON\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.`), {
    $metadata: { httpStatusCode: status },
  });
  Object.defineProperty(error, '$response', { value: { statusCode: status, body }, enumerable: false });
  return error;
}

t.test('an answer the SDK cannot read is malformed, and its body is not quoted', async (t) => {
  const secret = 'eyJraWQiOiJhYmMifQ.eyJzdWIiOiJ4In0.sig-abcdefghijklmnopqrstuvwxyz';
  const error = translateAwsError(unreadable(200, `{"AuthenticationResult":{"IdToken":"${secret}"`), 'refresh', 'default');
  t.match(error, { code: 'BRK_ERR_UPSTREAM_MALFORMED', retryable: true, message: /user pool answered InitiateAuth with a response that is not valid: HTTP 200.*SyntaxError/ });
  t.notMatch(error.message, /AuthenticationResult|eyJ|Unexpected token/);
  const page = translateAwsError(unreadable(400, '<html>Bad gateway config</html>'), 'get-id', 'default');
  t.match(page, { code: 'BRK_ERR_UPSTREAM_MALFORMED', message: /identity pool answered GetId.*HTTP 400/ });
});

t.test('an unreadable 5xx page (a load balancer, a proxy) is an outage, retried with backoff', async (t) => {
  const error = translateAwsError(unreadable(502, '<html>502 Bad Gateway</html>'), 'get-credentials', 'default');
  t.match(error, { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', statusCode: 503, message: /did not answer GetCredentialsForIdentity: HTTP 502/ });
  t.notMatch(error.message, /html/);
});

t.test('Cognito\'s own errors, which the SDK also hands the raw response, keep their meaning', async (t) => {
  const refused = new NotAuthorizedException({ message: 'Refresh Token has been revoked', ...meta });
  Object.defineProperty(refused, '$response', { value: { statusCode: 400 }, enumerable: false });
  t.match(translateAwsError(refused, 'refresh', 'default'), { code: 'BRK_ERR_LOGIN_REQUIRED' });
});

t.test('a rotated refresh token used again (RefreshTokenReuseException) means login required, not a retry', async (t) => {
  const reuse = Object.assign(new Error('Refresh token has been reused'), { name: 'RefreshTokenReuseException', $fault: 'client', $metadata: { httpStatusCode: 400 } });
  t.match(translateAwsError(reuse, 'refresh', 'default', 'GetTokensFromRefreshToken'), { code: 'BRK_ERR_LOGIN_REQUIRED', retryable: false, message: /already replaced/ });
});

t.test('sign-in refusals: wrong codes, client secrets, and the error name kept for sign-in to act on', async (t) => {
  const aws = (name: string, message: string) => Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
  for (const name of ['CodeMismatchException', 'ExpiredCodeException', 'EnableSoftwareTokenMFAException']) {
    t.match(translateAwsError(aws(name, 'Invalid code'), 'sign-in', 'default'), { code: 'BRK_ERR_MFA_CODE_MISMATCH', message: new RegExp(name) });
  }
  t.match(translateAwsError(aws('NotAuthorizedException', 'Client abc is configured for secret but secret was not received'), 'sign-in', 'default'), { code: 'BRK_ERR_CLIENT_SECRET', missing: true });
  t.match(translateAwsError(aws('NotAuthorizedException', 'Unable to verify secret hash for client abc'), 'sign-in', 'default'), { code: 'BRK_ERR_CLIENT_SECRET', missing: false });
  t.match(translateAwsError(aws('NotAuthorizedException', 'Unable to verify secret hash for client abc'), 'refresh', 'default'), { code: 'BRK_ERR_LOGIN_REQUIRED' }, 'on refresh the session is what is refused');
  const policy = translateAwsError(aws('InvalidPasswordException', 'Password does not conform to policy'), 'sign-in', 'default');
  t.type(policy, SignInRefusedError);
  t.equal((policy as SignInRefusedError).awsName, 'InvalidPasswordException');
});

t.test('an operation the server does not implement is told apart from an outage', async (t) => {
  const cognitoLocal = Object.assign(new Error('Cognito Local unsupported feature: Unsupported x-amz-target header "GlobalSignOut"'), { name: 'Unsupported', $fault: 'server', $metadata: { httpStatusCode: 500 } });
  t.ok(isUnknownOperation(cognitoLocal));
  const error = translateAwsError(cognitoLocal, 'global-sign-out', 'default');
  t.type(error, UnsupportedByServerError);
  t.match(error, { code: 'BRK_ERR_UPSTREAM_REJECTED', retryable: false, message: /does not support GlobalSignOut/ });
  t.ok(isUnknownOperation(Object.assign(new Error(''), { name: 'UnknownOperationException', $metadata: { httpStatusCode: 400 } })));
  t.ok(isUnknownOperation(Object.assign(new Error(''), { name: 'Error', $metadata: { httpStatusCode: 501 } })));
  t.notOk(isUnknownOperation(Object.assign(new Error('oops'), { name: 'InternalErrorException', $metadata: { httpStatusCode: 500 } })));
  t.notOk(isUnknownOperation(new UpstreamUnavailableError('down')));
});

t.test('revocation: a token already unusable is login required, an outage is retryable', async (t) => {
  const refused = new NotAuthorizedException({ message: 'Access Token has been revoked', ...meta });
  t.match(translateAwsError(refused, 'global-sign-out', 'work'), { code: 'BRK_ERR_LOGIN_REQUIRED', message: /GlobalSignOut/ });
  t.match(translateAwsError(refused, 'revoke', 'work'), { code: 'BRK_ERR_LOGIN_REQUIRED', message: /RevokeToken/ });
  t.match(translateAwsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'revoke', 'work'), { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', retryable: true, message: /did not answer RevokeToken/ });
});
