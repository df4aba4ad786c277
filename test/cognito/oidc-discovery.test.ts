import t from 'tap';
import { createEndpointResolver, discoverOidcEndpoints, hostedUiEndpoints, oidcLoginsKey } from '../../src/cognito/oidc-discovery.js';
import type { ProfileConfig } from '../../src/config/config.js';
import { BrowserLoginNotConfiguredError, UpstreamMalformedError, UpstreamRejectedError, UpstreamUnavailableError } from '../../src/errors.js';
import { startScriptedServer } from '../support/scripted-oauth-server.js';

function oidcProfile(oidc: Record<string, unknown>): ProfileConfig {
  return { name: 'okta', region: 'eu-west-1', identityPoolId: 'eu-west-1:1', userPoolId: String(oidc.issuer), clientId: 'c', oidc: { clientId: 'c', redirectPort: 1, redirectPath: '/callback', scopes: ['openid'], ...oidc } } as unknown as ProfileConfig;
}

t.test('the managed login has fixed paths under its domain', async (t) => {
  t.same(hostedUiEndpoints('https://p.auth.eu-west-1.amazoncognito.com/'), {
    authorization: 'https://p.auth.eu-west-1.amazoncognito.com/oauth2/authorize',
    token: 'https://p.auth.eu-west-1.amazoncognito.com/oauth2/token',
    revocation: 'https://p.auth.eu-west-1.amazoncognito.com/oauth2/revoke',
  });
});

t.test('discovery reads the endpoints from the document under the issuer', async (t) => {
  const server = await startScriptedServer();
  t.teardown(() => server.close());
  const issuer = `${server.url}/tenant`;
  const document = { issuer, authorization_endpoint: `${server.url}/authorize`, token_endpoint: `${server.url}/token`, revocation_endpoint: `${server.url}/revoke`, jwks_uri: `${server.url}/keys` };
  server.reply = () => ({ body: document });
  t.same(await discoverOidcEndpoints(issuer), { authorization: document.authorization_endpoint, token: document.token_endpoint, revocation: document.revocation_endpoint });
  t.equal(server.requests[0]?.path, '/tenant/.well-known/openid-configuration');

  server.reply = () => ({ body: { ...document, revocation_endpoint: undefined } });
  t.equal((await discoverOidcEndpoints(issuer)).revocation, undefined, 'revocation is optional');
});

t.test('a document that is not this provider\'s, or not usable, is refused with what to do', async (t) => {
  const server = await startScriptedServer();
  t.teardown(() => server.close());
  const issuer = `${server.url}/pool`;
  const good = { issuer, authorization_endpoint: `${server.url}/a`, token_endpoint: `${server.url}/t` };
  const cases: [unknown, number, new (...args: never[]) => Error, RegExp][] = [
    // cognito-local: every pool's document names http://localhost:9229, and has no endpoints.
    [{ issuer: 'http://localhost:9229/pool', jwks_uri: 'http://localhost:9229/pool/.well-known/jwks.json' }, 200, UpstreamRejectedError, /names the issuer "http:\/\/localhost:9229\/pool", not the configured.*oidc\.endpoints/],
    [{ ...good, token_endpoint: undefined }, 200, UpstreamMalformedError, /no token_endpoint.*oidc\.endpoints/],
    [{ ...good, authorization_endpoint: 'http://evil.example.com/a' }, 200, UpstreamMalformedError, /authorization_endpoint that is not an https URL/],
    [{ ...good, revocation_endpoint: 42 }, 200, UpstreamMalformedError, /revocation_endpoint/],
    ['<html>', 200, UpstreamMalformedError, /not a JSON object/],
    [{}, 404, UpstreamRejectedError, /HTTP 404.*oidc\.issuer/],
    [{}, 503, UpstreamUnavailableError, /HTTP 503/],
  ];
  for (const [body, status, type, message] of cases) {
    server.reply = () => ({ status, body });
    await t.rejects(discoverOidcEndpoints(issuer), type, `${JSON.stringify(body).slice(0, 50)} ${status}`);
    await discoverOidcEndpoints(issuer).catch((error: Error) => t.match(error.message, message));
  }
});

t.test('configured endpoints replace discovery: both flow endpoints named means no discovery at all', async (t) => {
  const server = await startScriptedServer();
  t.teardown(() => server.close());
  const issuer = `${server.url}/p`;
  server.reply = () => ({ body: { issuer, authorization_endpoint: `${server.url}/a`, token_endpoint: `${server.url}/t`, revocation_endpoint: `${server.url}/r` } });

  const named = createEndpointResolver(oidcProfile({ issuer, endpoints: { authorization: 'https://idp.example.com/a', token: 'https://idp.example.com/t' } }));
  t.same(await named(), { authorization: 'https://idp.example.com/a', token: 'https://idp.example.com/t', revocation: undefined });
  t.equal(server.requests.length, 0, 'no discovery');

  const partly = createEndpointResolver(oidcProfile({ issuer, endpoints: { token: 'https://idp.example.com/t' } }));
  t.same(await partly(), { authorization: `${server.url}/a`, token: 'https://idp.example.com/t', revocation: `${server.url}/r` });
  await partly();
  t.equal(server.requests.length, 1, 'discovered once, then kept');
});

t.test('a failed discovery is not kept: the next call tries again', async (t) => {
  const server = await startScriptedServer();
  t.teardown(() => server.close());
  const issuer = `${server.url}/p`;
  server.reply = () => ({ status: 503, body: {} });
  const resolve = createEndpointResolver(oidcProfile({ issuer }));
  await t.rejects(resolve(), UpstreamUnavailableError);
  server.reply = () => ({ body: { issuer, authorization_endpoint: `${server.url}/a`, token_endpoint: `${server.url}/t` } });
  t.equal((await resolve()).token, `${server.url}/t`);
});

t.test('a profile without hostedUi or oidc has no browser sign-in', async (t) => {
  const plain = { name: 'work', region: 'eu-west-1', userPoolId: 'eu-west-1_A', clientId: 'c', identityPoolId: 'eu-west-1:1' } as ProfileConfig;
  await t.rejects(createEndpointResolver(plain)(), BrowserLoginNotConfiguredError);
});

t.test('the Logins key of an OIDC provider is its issuer without scheme and final slash, unless configured', async (t) => {
  t.equal(oidcLoginsKey({ issuer: 'https://tenant.auth0.com/' }), 'tenant.auth0.com');
  t.equal(oidcLoginsKey({ issuer: 'https://login.microsoftonline.com/tid/v2.0' }), 'login.microsoftonline.com/tid/v2.0');
  t.equal(oidcLoginsKey({ issuer: 'http://127.0.0.1:9229/us-east-1_X' }), '127.0.0.1:9229/us-east-1_X');
  t.equal(oidcLoginsKey({ issuer: 'https://accounts.google.com', loginsKey: 'accounts.google.com' }), 'accounts.google.com');
  t.equal(oidcLoginsKey({ issuer: 'https://a.example.com/', loginsKey: 'a.example.com/' }), 'a.example.com/', 'a configured key is used as it is');
});
