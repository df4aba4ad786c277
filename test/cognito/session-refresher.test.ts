import t from 'tap';
import { createCognitoClients, createOAuthClient } from '../../src/cognito/create-cognito-clients.js';
import { SessionRefresher } from '../../src/cognito/session-refresher.js';
import type { RefreshedTokens, RefreshRequest, TokenRefresher } from '../../src/cognito/types.js';
import type { ProfileConfig } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/load-config.js';
import { LoginRequiredError } from '../../src/errors.js';
import { idTokenFor, startScriptedServer } from '../support/scripted-oauth-server.js';

function recorder(name: string): TokenRefresher & { calls: RefreshRequest[] } {
  const calls: RefreshRequest[] = [];
  return {
    calls,
    async refresh(request) {
      calls.push(request);
      return { idToken: name, accessToken: name, expiresAt: 2, issuedAt: 1 } satisfies RefreshedTokens;
    },
  };
}

t.test('each session is refreshed the way it was signed in', async (t) => {
  const userPool = recorder('user-pool');
  const oauth = recorder('oauth');
  const refresher = new SessionRefresher({ profile: 'p', userPool, oauth });
  t.equal((await refresher.refresh({ refreshToken: 'old-record' })).idToken, 'user-pool', 'no method: a record from before browser sign-in, a password session');
  t.equal((await refresher.refresh({ method: 'password', refreshToken: 'a' })).idToken, 'user-pool');
  t.equal((await refresher.refresh({ method: 'browser', refreshToken: 'b', clientSecret: 's' })).idToken, 'oauth');
  t.equal((await refresher.refresh({ method: 'oidc', refreshToken: 'c' })).idToken, 'oauth');
  t.same(oauth.calls[0], { method: 'browser', refreshToken: 'b', clientSecret: 's' }, 'the whole request is passed on');
});

t.test('a session the profile can no longer refresh needs a new login, not retries', async (t) => {
  const onlyPool = new SessionRefresher({ profile: 'work', userPool: recorder('u') });
  await t.rejects(onlyPool.refresh({ method: 'browser', refreshToken: 'b' }), { name: 'LoginRequiredError', message: /managed login.*no "hostedUi" section.*cognito-broker login --profile work/ });
  await t.rejects(onlyPool.refresh({ method: 'oidc', refreshToken: 'b' }), { message: /no "oidc" section/ });
  const onlyOauth = new SessionRefresher({ profile: 'work', oauth: recorder('o') });
  await t.rejects(onlyOauth.refresh({ method: 'password', refreshToken: 'p' }), LoginRequiredError);
});

const POOL = { region: 'us-east-1', userPoolId: 'us-east-1_Pool1', clientId: 'client1', identityPoolId: 'us-east-1:0b5f2f5e-1111' };

function profileOf(profile: Record<string, unknown>): ProfileConfig {
  return parseConfig('/c.json', JSON.stringify({ profiles: { p: profile } })).profiles.p as ProfileConfig;
}

t.test('the wiring: a hostedUi profile refreshes browser sessions at its domain\'s /oauth2/token', async (t) => {
  const server = await startScriptedServer(() => ({ body: { id_token: idTokenFor(`https://cognito-idp.us-east-1.amazonaws.com/${POOL.userPoolId}`, POOL.clientId), access_token: 'a' } }));
  t.teardown(() => server.close());
  const clients = createCognitoClients(profileOf({ ...POOL, hostedUi: { domain: server.url, redirectPort: 1 } }));
  t.teardown(() => clients.destroy());
  t.ok(clients.oauth, 'an OAuth client');
  const tokens = await clients.refresher.refresh({ method: 'browser', refreshToken: 'r' });
  t.equal(tokens.accessToken, 'a');
  t.equal(server.requests[0]?.path, '/oauth2/token');
  t.equal(createOAuthClient(profileOf(POOL)), undefined, 'a plain profile has none');
});

t.test('the wiring: an OIDC profile refreshes through the provider and never through a user pool', async (t) => {
  const server = await startScriptedServer();
  t.teardown(() => server.close());
  const issuer = `${server.url}/tenant`;
  server.reply = (request) => request.path.endsWith('/openid-configuration')
    ? { body: { issuer, authorization_endpoint: `${server.url}/authorize`, token_endpoint: `${server.url}/token` } }
    : { body: { id_token: idTokenFor(issuer, 'oidc-client'), access_token: 'a' } };
  const clients = createCognitoClients(profileOf({ region: 'us-east-1', identityPoolId: POOL.identityPoolId, oidc: { issuer, clientId: 'oidc-client', redirectPort: 1 } }));
  t.teardown(() => clients.destroy());
  t.equal((await clients.refresher.refresh({ method: 'oidc', refreshToken: 'r' })).accessToken, 'a');
  t.same(server.requests.map((r) => r.path), ['/tenant/.well-known/openid-configuration', '/token']);
  await t.rejects(clients.refresher.refresh({ method: 'password', refreshToken: 'r' }), LoginRequiredError);

  // An ID token of another issuer is refused (it would go to the identity pool under the wrong name).
  server.reply = () => ({ body: { id_token: idTokenFor('https://other.example.com', 'oidc-client'), access_token: 'a' } });
  await t.rejects(clients.refresher.refresh({ method: 'oidc', refreshToken: 'r' }), { message: /not ".*\/tenant"/ });
});
