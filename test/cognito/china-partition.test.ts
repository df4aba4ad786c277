import t from 'tap';
import { awsSdk } from '../../src/cognito/aws-sdk.js';
import { loginsKey } from '../../src/cognito/jwt-claims.js';
import { createSdkClients } from '../../src/cognito/create-cognito-clients.js';
import { listRoles } from '../../src/cli/roles.js';
import type { Config, ProfileConfig } from '../../src/config/config.js';
import { openIdIssuer } from '../../testkit/emulators/identity-pool-openid.js';

// The commands of the clients createSdkClients makes: the build's bundle of the SDK.
const { AssumeRoleWithWebIdentityCommand, GetIdCommand, InitiateAuthCommand } = awsSdk();

function profile(region: string): ProfileConfig {
  return {
    name: 'cn',
    region,
    userPoolId: `${region}_AbCdEf123`,
    clientId: 'abc',
    identityPoolId: `${region}:0b5f2f5e-1111-4222-8333-444455556666`,
    flow: 'basic',
    customRoleArn: 'arn:aws-cn:iam::123456789012:role/R',
  };
}

/**
 * The URL each SDK client would call, taken after the SDK resolved the endpoint and signed the
 * request, just before it would be sent: no network.
 */
async function resolvedHost(client: { middlewareStack: { add: (...args: never[]) => void }; send: (command: never) => Promise<unknown> }, command: unknown): Promise<string> {
  let host = '';
  const stop = new Error('stopped before sending');
  const capture = () => async (args: { request: { hostname: string; protocol: string } }) => {
    host = `${args.request.protocol}//${args.request.hostname}`;
    throw stop;
  };
  (client.middlewareStack.add as (m: unknown, o: unknown) => void)(capture, { step: 'finalizeRequest', priority: 'low', name: 'captureHost' });
  await (client.send as (c: unknown) => Promise<unknown>)(command).catch((error: unknown) => {
    if (error !== stop) throw error;
  });
  return host;
}

for (const region of ['cn-north-1', 'cn-northwest-1']) {
  t.test(`${region}: the identity pool, user pool and STS are reached at amazonaws.com.cn`, async (t) => {
    const clients = createSdkClients(profile(region));
    t.teardown(() => {
      clients.idp.destroy();
      clients.identity.destroy();
      clients.sts?.destroy();
    });
    t.equal(await resolvedHost(clients.identity as never, new GetIdCommand({ IdentityPoolId: profile(region).identityPoolId })), `https://cognito-identity.${region}.amazonaws.com.cn`);
    t.equal(await resolvedHost(clients.idp as never, new InitiateAuthCommand({ AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: 'x', AuthParameters: { REFRESH_TOKEN: 'x' } })), `https://cognito-idp.${region}.amazonaws.com.cn`);
    t.equal(await resolvedHost(clients.sts as never, new AssumeRoleWithWebIdentityCommand({ RoleArn: 'arn:aws-cn:iam::123456789012:role/R', RoleSessionName: 's', WebIdentityToken: 'x' })), `https://sts.${region}.amazonaws.com.cn`);
  });
}

t.test('other regions stay at amazonaws.com; endpoints in the config win', async (t) => {
  const clients = createSdkClients({ ...profile('eu-west-1'), customRoleArn: 'arn:aws:iam::123456789012:role/R', endpoints: { sts: 'http://127.0.0.1:4566' } });
  t.teardown(() => {
    clients.idp.destroy();
    clients.identity.destroy();
    clients.sts?.destroy();
  });
  t.equal(await resolvedHost(clients.identity as never, new GetIdCommand({ IdentityPoolId: 'eu-west-1:x' })), 'https://cognito-identity.eu-west-1.amazonaws.com');
  t.equal(await resolvedHost(clients.sts as never, new AssumeRoleWithWebIdentityCommand({ RoleArn: 'arn:aws-cn:iam::123456789012:role/R', RoleSessionName: 's', WebIdentityToken: 'x' })), 'http://127.0.0.1');
});

t.test('China issuers: a user pool token\'s Logins key, and the identity pool\'s own OpenID token issuer', async (t) => {
  t.equal(loginsKey({ iss: 'https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_AbCdEf123' }), 'cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_AbCdEf123');
  t.equal(openIdIssuer('cn-north-1'), 'https://cognito-identity.cn-north-1.amazonaws.com.cn');
  t.equal(openIdIssuer('eu-west-1'), 'https://cognito-identity.amazonaws.com');
});

t.test('roles lists arn:aws-cn: roles and the profiles that use them', async (t) => {
  const p = profile('cn-north-1');
  const config = { profiles: { cn: p }, defaultProfile: 'cn' } as unknown as Config;
  const listing = listRoles(config, p, { 'cognito:roles': ['arn:aws-cn:iam::123456789012:role/R', 'arn:aws-cn:iam::123456789012:role/Other'], 'cognito:username': 'li' });
  t.same(listing.roles, [
    { arn: 'arn:aws-cn:iam::123456789012:role/R', preferred: false, usedBy: ['cn'] },
    { arn: 'arn:aws-cn:iam::123456789012:role/Other', preferred: false, usedBy: [] },
  ]);
});
