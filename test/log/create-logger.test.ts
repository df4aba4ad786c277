import t from 'tap';
import { createLogger, REDACTED_PATHS, serializeError } from '../../src/log/create-logger.js';
import { listenApp, TOKEN } from '../support/listening-app.js';
import { rawRequest } from '../support/raw-http.js';
import { LogCapture } from '../support/session-harness.js';

const SECRET = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl';

/** The secret as text, and as the byte arrays and encodings a serializer could turn it into. */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, [...bytes].join(','), bytes.toString('base64'), bytes.toString('hex')];
}

t.test('every redacted field name is censored, at the top level and one level down', async (t) => {
  const logs = new LogCapture();
  const logger = createLogger({ level: 'trace', destination: logs });
  const fields = [
    'refreshToken', 'idToken', 'accessToken', 'password', 'secretAccessKey', 'sessionToken', 'authToken', 'token',
    'clientSecret', 'devicePassword', 'deviceGroupKey', 'codeVerifier', 'code_verifier',
  ];
  for (const field of fields) {
    logger.trace({ [field]: SECRET }, 'top');
    logger.trace({ session: { [field]: SECRET } }, 'nested');
  }
  logger.info({ req: { headers: { authorization: SECRET } } }, 'request');
  logger.info({ headers: { authorization: SECRET } }, 'headers');
  t.equal(logs.lines.length, fields.length * 2 + 2);
  t.notMatch(logs.raw.join('\n'), SECRET);
  t.match(logs.raw.join('\n'), /\[redacted\]/);
  t.ok(REDACTED_PATHS.includes('*.refreshToken'));
});

t.test('what an OAuth sign-in and a remembered device carry is censored, and error codes stay readable', async (t) => {
  const logs = new LogCapture();
  const logger = createLogger({ level: 'trace', destination: logs });
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  logger.debug({ exchange: { codeVerifier: verifier, redirectUri: 'http://127.0.0.1:53682/callback', clientSecret: SECRET } }, 'token exchange');
  logger.debug({ device: { deviceKey: 'eu-west-1_dev', deviceGroupKey: '-group-key-', devicePassword: SECRET } }, 'device');
  const text = logs.raw.join('\n');
  for (const secret of [verifier, SECRET, '-group-key-']) t.notOk(text.includes(secret), `${secret.slice(0, 8)}… is not in the log`);
  t.match(logs.lines[0], { exchange: { redirectUri: 'http://127.0.0.1:53682/callback' } }, 'the rest of a record is kept');
  t.match(logs.lines[1], { device: { deviceKey: 'eu-west-1_dev' } });

  for (const code of ['BRK_ERR_KEYCHAIN_UNAVAILABLE', 'ECONNREFUSED', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_INVALID_HEADER_TOKEN', 'FST_ERR_CTP_BODY_TOO_LARGE', 'NotAuthorizedException']) {
    logger.warn({ profile: 'p', code, err: { code } }, 'failed');
    t.match(logs.lines.at(-1), { code, err: { code } }, `the error code ${code} is kept`);
  }
});

t.test('errors are logged by a short list of fields: no raw packets, no SDK responses', async (t) => {
  const parserError = Object.assign(new Error('Parse Error: Invalid header value char'), {
    code: 'HPE_INVALID_HEADER_TOKEN',
    rawPacket: Buffer.from(`GET /credentials HTTP/1.1\r\nAuthorization: ${SECRET}\r\n\r\n`),
    bytesParsed: 40,
  });
  const sdkError = Object.assign(new Error('Invalid login token.'), {
    name: 'NotAuthorizedException',
    $metadata: { httpStatusCode: 400 },
    $response: { body: `{"IdToken":"${SECRET}"}` },
    cause: Object.assign(new Error('inner'), { config: { headers: { Authorization: SECRET } } }),
  });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'trace', destination: logs });
  logger.trace({ err: parserError }, 'client error');
  logger.error({ err: sdkError }, 'upstream');
  const text = logs.raw.join('\n');
  for (const form of forms(SECRET)) t.notOk(text.includes(form), `the secret does not appear (as ${form.slice(0, 12)}…)`);
  t.match(logs.lines[0], { err: { type: 'Error', code: 'HPE_INVALID_HEADER_TOKEN', message: /Invalid header/ } }, 'what is useful is kept');
  t.match(logs.lines[1], { err: { name: 'NotAuthorizedException', message: 'Invalid login token.', cause: { message: 'inner' } } });
  t.same(serializeError('text'), { type: 'string', message: 'text' });
  t.match(serializeError({ name: 'X', message: 'm', extra: SECRET }), { name: 'X', message: 'm' });
  t.notOk(JSON.stringify(serializeError({ name: 'X', extra: SECRET })).includes(SECRET));
});

// The build's bundle of the SDK renames some of its classes (two clients define the same
// exception): the log says what the error is by its own name.
t.test("an error is logged as its name says, whatever its class is called", async (t) => {
  class _NotAuthorizedException extends Error {
    override name = 'NotAuthorizedException';
  }
  t.match(serializeError(new _NotAuthorizedException('Invalid login token.')), { type: 'NotAuthorizedException', name: 'NotAuthorizedException' });
  t.match(serializeError(new TypeError('x')), { type: 'TypeError' });
  class Nameless extends Error {
    override name = '';
  }
  t.match(serializeError(new Nameless('x')), { type: 'Nameless' }, 'an empty name: the class');
});

t.test('a malformed request carrying the token leaves no trace of it in a trace-level log', async (t) => {
  // Fastify's own handler for what Node's parser refuses logs the error with its rawPacket:
  // the request's bytes, token included.
  const server = await listenApp();
  t.teardown(() => server.close());
  const auth = `Authorization: ${TOKEN}`;
  const malformed = [
    `GET /credentials HTTP/1.1\r\n${server.host}\r\n${auth}\r\nX-Bad: a\u0001b\r\n\r\n`,
    `GET /credentials HTTP/1.1\r\n${server.host}\r\n${auth}\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
    `GET /credentials HTTP/1.1\r\n${server.host}\r\n${auth}\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
    `GET /credentials HTTP/9.9\r\n${server.host}\r\n${auth}\r\n\r\n`,
    `GET /%zz HTTP/1.1\r\n${server.host}\r\n${auth}\r\n\r\n`,
  ];
  for (const request of malformed) {
    const res = await rawRequest(server.port, request);
    t.ok(res.status !== undefined && res.status >= 400 && res.status < 500, `refused with ${res.status}`);
    t.equal(res.headers['content-type'], 'application/json', 'as JSON');
    t.match(JSON.parse(res.body), { Code: 'BRK_ERR_BAD_REQUEST' }, 'with our error shape');
  }
  const text = server.logs.raw.join('\n');
  t.match(text, /malformed request refused/, 'the refusals are logged');
  for (const form of forms(TOKEN)) t.notOk(text.includes(form), `the token does not appear (as ${form.slice(0, 12)}…)`);
});
