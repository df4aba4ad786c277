import { NotAuthorizedException, TooManyRequestsException, InvalidParameterException } from '@aws-sdk/client-cognito-identity-provider';
import { ResourceNotFoundException } from '@aws-sdk/client-cognito-identity';
import t from 'tap';
import { IdentityPoolError, scrub, translateAwsError } from '../../src/cognito/translate-aws-error.js';

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
