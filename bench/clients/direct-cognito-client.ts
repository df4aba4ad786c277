/**
 * A new process getting AWS credentials without the broker, as a tool holding a refresh
 * token must: InitiateAuth REFRESH_TOKEN_AUTH at the user pool, then GetId and
 * GetCredentialsForIdentity at the identity pool (three round trips). The refresh token
 * comes on stdin; the pools and endpoints in BENCH_* variables. Prints
 * `CREDENTIALS <first 4 characters of the key id>` once it has them.
 */
import { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetIdCommand } from '@aws-sdk/client-cognito-identity';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const refreshToken = Buffer.concat(chunks).toString('utf8');

const region = env('BENCH_REGION');
const unsigned = { accessKeyId: 'unused', secretAccessKey: 'unused' };
const idp = new CognitoIdentityProviderClient({ region, endpoint: env('BENCH_USER_POOL_ENDPOINT'), credentials: unsigned });
const identity = new CognitoIdentityClient({ region, endpoint: env('BENCH_IDENTITY_POOL_ENDPOINT'), credentials: unsigned });

const auth = await idp.send(
  new InitiateAuthCommand({ AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: env('BENCH_CLIENT_ID'), AuthParameters: { REFRESH_TOKEN: refreshToken } }),
);
const idToken = auth.AuthenticationResult?.IdToken;
if (!idToken) throw new Error('no ID token');
const logins = { [env('BENCH_LOGINS_KEY')]: idToken };
const { IdentityId } = await identity.send(new GetIdCommand({ IdentityPoolId: env('BENCH_IDENTITY_POOL_ID'), Logins: logins }));
const { Credentials } = await identity.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins: logins }));
if (!Credentials?.AccessKeyId) throw new Error('no credentials');
process.stdout.write(`CREDENTIALS ${Credentials.AccessKeyId.slice(0, 4)}\n`);
idp.destroy();
identity.destroy();
