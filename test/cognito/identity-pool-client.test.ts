import t from 'tap';
import { awsSdk } from '../../src/cognito/aws-sdk.js';
import { IdentityPoolClient } from '../../src/cognito/identity-pool-client.js';
import { idTokenFor, startScriptedServer } from '../support/scripted-oauth-server.js';

async function setup(t: { teardown: (fn: () => unknown) => void }, loginsKey?: string) {
  const server = await startScriptedServer(() => ({ body: { IdentityId: 'us-east-1:id-1' }, contentType: 'application/x-amz-json-1.1' }));
  const sdk = new (awsSdk().CognitoIdentityClient)({ region: 'us-east-1', endpoint: server.url, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  t.teardown(async () => {
    sdk.destroy();
    await server.close();
  });
  return { server, client: new IdentityPoolClient(sdk, { identityPoolId: 'us-east-1:pool', profile: 'p', loginsKey }) };
}

t.test('a user pool\'s ID token goes under its iss without the scheme', async (t) => {
  const { server, client } = await setup(t);
  const token = idTokenFor('https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc', 'c');
  t.equal(await client.getId(token), 'us-east-1:id-1');
  t.same(JSON.parse(server.requests[0]?.body ?? '{}'), { IdentityPoolId: 'us-east-1:pool', Logins: { 'cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc': token } });
});

t.test('an OpenID Connect provider\'s ID token goes under the configured provider name', async (t) => {
  const { server, client } = await setup(t, 'tenant.auth0.com');
  const token = idTokenFor('https://tenant.auth0.com/', 'c');
  await client.getId(token);
  t.same(JSON.parse(server.requests[0]?.body ?? '{}').Logins, { 'tenant.auth0.com': token });
});
