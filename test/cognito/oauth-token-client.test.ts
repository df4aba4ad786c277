import t, { type Test } from 'tap';
import { OAUTH_MAX_BODY_BYTES } from '../../src/cognito/oauth-http.js';
import { OAuthTokenClient } from '../../src/cognito/oauth-token-client.js';
import { hostedUiEndpoints } from '../../src/cognito/oidc-discovery.js';
import { LoginRequiredError, OAuthClientRefusedError, SignInFailedError, UpstreamMalformedError, UpstreamRejectedError, UpstreamUnavailableError } from '../../src/errors.js';
import { idTokenFor, type ScriptedReply, startScriptedServer } from '../support/scripted-oauth-server.js';

const CLIENT = 'client-1';
const POOL = 'us-east-1_Pool1';
const ISSUER = `https://cognito-idp.us-east-1.amazonaws.com/${POOL}`;

async function setup(t: Test, reply: ScriptedReply | (() => ScriptedReply)) {
  const server = await startScriptedServer(typeof reply === 'function' ? reply : () => reply);
  t.teardown(() => server.close());
  const client = new OAuthTokenClient({
    profile: 'work',
    clientId: CLIENT,
    provider: 'the managed login',
    endpoints: async () => hostedUiEndpoints(`${server.url}/`),
    issuer: { matches: (iss) => iss.endsWith(`/${POOL}`), expected: `the user pool ${POOL}` },
    now: () => 1_000,
  });
  return { server, client };
}

const tokens = (extra: Record<string, unknown> = {}) => ({ id_token: idTokenFor(ISSUER, CLIENT), access_token: 'access-1', token_type: 'Bearer', expires_in: 3600, ...extra });

t.test('the code exchange posts the code, redirect URI and PKCE verifier, and returns the tokens', async (t) => {
  const { server, client } = await setup(t, { body: tokens({ refresh_token: 'refresh-1' }) });
  const result = await client.exchangeCode({ code: 'the-code', codeVerifier: 'the-verifier', redirectUri: 'http://127.0.0.1:5/callback' });
  t.equal(result.refreshToken, 'refresh-1');
  t.equal(result.accessToken, 'access-1');
  t.equal(result.issuedAt, 1_000, 'issuedAt by our clock');
  const [request] = server.requests;
  t.equal(request?.path, '/oauth2/token');
  t.equal(request?.headers['content-type'], 'application/x-www-form-urlencoded');
  t.same(Object.fromEntries(request?.form ?? []), { grant_type: 'authorization_code', client_id: CLIENT, code: 'the-code', redirect_uri: 'http://127.0.0.1:5/callback', code_verifier: 'the-verifier' });
  t.notOk(request?.headers.authorization, 'a public client sends no Authorization header');
});

t.test('a client secret goes in HTTP Basic, never in the body', async (t) => {
  const { server, client } = await setup(t, { body: tokens() });
  await client.refresh({ method: 'browser', refreshToken: 'r', clientSecret: 's3cr3t/+=' });
  const request = server.requests[0];
  t.equal(request?.headers.authorization, `Basic ${Buffer.from(`${CLIENT}:s3cr3t%2F%2B%3D`).toString('base64')}`, 'form-encoded, then base64 (RFC 6749 2.3.1)');
  t.notOk(request?.form.has('client_secret'));
});

t.test('the refresh grant: no refresh_token in the answer keeps the old one; a new one is a rotation', async (t) => {
  const { server, client } = await setup(t, { body: tokens() });
  const plain = await client.refresh({ method: 'browser', refreshToken: 'r1' });
  t.equal(plain.refreshToken, undefined);
  t.same(Object.fromEntries(server.requests[0]?.form ?? []), { grant_type: 'refresh_token', client_id: CLIENT, refresh_token: 'r1' });
  server.reply = () => ({ body: tokens({ refresh_token: 'r2' }) });
  t.equal((await client.refresh({ method: 'browser', refreshToken: 'r1' })).refreshToken, 'r2', 'rotated');
  server.reply = () => ({ body: tokens({ refresh_token: 'r1' }) });
  t.equal((await client.refresh({ method: 'browser', refreshToken: 'r1' })).refreshToken, undefined, 'the same token back is no rotation');
  server.reply = () => ({ body: tokens({ refresh_token: 42 }) });
  await t.rejects(client.refresh({ method: 'browser', refreshToken: 'r1' }), UpstreamMalformedError);
});

t.test('answers become the errors the broker acts on', async (t) => {
  const cases: [ScriptedReply, 'refresh' | 'sign-in', new (...args: never[]) => Error, RegExp][] = [
    [{ status: 400, body: { error: 'invalid_grant', error_description: 'Refresh Token has been revoked' } }, 'refresh', LoginRequiredError, /refused the refresh token: invalid_grant: Refresh Token has been revoked/],
    [{ status: 400, body: { error: 'invalid_grant' } }, 'sign-in', SignInFailedError, /refused the sign-in \(invalid_grant\)/],
    [{ status: 401, body: { error: 'invalid_client' } }, 'refresh', OAuthClientRefusedError, /invalid_client.*client secret/],
    [{ status: 400, body: { error: 'unauthorized_client' } }, 'sign-in', OAuthClientRefusedError, /unauthorized_client/],
    [{ status: 400, body: { error: 'invalid_scope' } }, 'sign-in', UpstreamRejectedError, /invalid_scope.*scopes/],
    [{ status: 503, body: 'busy', contentType: 'text/plain' }, 'refresh', UpstreamUnavailableError, /HTTP 503/],
    [{ status: 429, body: {} }, 'refresh', UpstreamUnavailableError, /HTTP 429/],
    [{ status: 404, body: '<html>no</html>', contentType: 'text/html' }, 'refresh', UpstreamRejectedError, /HTTP 404.*domain or endpoints/],
    [{ status: 200, body: '<html>a captive portal</html>', contentType: 'text/html' }, 'refresh', UpstreamMalformedError, /without an id_token/],
    [{ status: 200, body: { access_token: 'a' } }, 'refresh', UpstreamMalformedError, /without an id_token/],
    [{ status: 200, body: tokens({ id_token: 'not-a-jwt' }) }, 'refresh', UpstreamMalformedError, /not a JWT/],
    [{ status: 200, body: tokens() }, 'sign-in', UpstreamMalformedError, /no refresh token/],
  ];
  for (const [reply, operation, type, message] of cases) {
    const { client } = await setup(t, reply);
    const call = operation === 'refresh' ? client.refresh({ method: 'browser', refreshToken: 'r' }) : client.exchangeCode({ code: 'c', codeVerifier: 'v', redirectUri: 'http://127.0.0.1:1/' });
    await t.rejects(call, type, `${JSON.stringify(reply).slice(0, 60)} → ${type.name}`);
    await call.catch((error: Error) => t.match(error.message, message));
  }
});

t.test('an ID token from another pool or for another client is refused before it reaches the identity pool', async (t) => {
  const { client, server } = await setup(t, { body: tokens({ id_token: idTokenFor('https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other', CLIENT) }) });
  await t.rejects(client.refresh({ refreshToken: 'r' }), { name: 'UpstreamRejectedError', message: /us-east-1_Other.*not the user pool us-east-1_Pool1/ });
  server.reply = () => ({ body: tokens({ id_token: idTokenFor(ISSUER, 'someone-else') }) });
  await t.rejects(client.refresh({ refreshToken: 'r' }), { message: /another client/ });
  server.reply = () => ({ body: tokens({ id_token: idTokenFor(ISSUER, ['x', CLIENT]) }) });
  t.ok(await client.refresh({ refreshToken: 'r' }), 'an audience list that holds the client is fine');
});

t.test('a provider that cannot be reached, or answers too much, is a retryable failure', async (t) => {
  const { client, server } = await setup(t, { body: tokens() });
  await server.close();
  await t.rejects(client.refresh({ refreshToken: 'r' }), { name: 'UpstreamUnavailableError', message: /did not answer \(ECONNREFUSED\)/ });
  const big = await setup(t, { body: 'x'.repeat(OAUTH_MAX_BODY_BYTES + 10), contentType: 'text/plain' });
  await t.rejects(big.client.refresh({ refreshToken: 'r' }), { name: 'UpstreamMalformedError', message: /more than/ });
  const redirecting = await setup(t, { status: 307, body: '' });
  redirecting.server.reply = () => ({ status: 307, body: '' });
  await t.rejects(redirecting.client.refresh({ refreshToken: 'r' }), UpstreamUnavailableError, 'a redirect of a POST carrying a token is not followed');
});

t.test('revocation (RFC 7009): the token, its type, the client; already invalid; no endpoint', async (t) => {
  const { client, server } = await setup(t, { status: 200, body: '' });
  t.equal(await client.revoke('r1', 'sec'), true);
  t.equal(server.requests[0]?.path, '/oauth2/revoke');
  t.same(Object.fromEntries(server.requests[0]?.form ?? []), { token: 'r1', token_type_hint: 'refresh_token', client_id: CLIENT });
  t.match(server.requests[0]?.headers.authorization, /^Basic /);
  server.reply = () => ({ status: 400, body: { error: 'invalid_token' } });
  await t.rejects(client.revoke('r1'), LoginRequiredError, 'a token the provider calls invalid is as good as revoked');
  server.reply = () => ({ status: 400, body: { error: 'unsupported_token_type' } });
  await t.rejects(client.revoke('r1'), UpstreamRejectedError);
  const none = new OAuthTokenClient({ profile: 'p', clientId: CLIENT, provider: 'the OpenID Connect provider', endpoints: async () => ({ authorization: 'https://x/a', token: 'https://x/t' }), issuer: { matches: () => true, expected: '' } });
  t.equal(await none.revoke('r1'), false, 'no revocation endpoint: nothing called');
});
