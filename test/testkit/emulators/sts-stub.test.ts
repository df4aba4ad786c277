import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import t from 'tap';
import { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetIdCommand } from '@aws-sdk/client-cognito-identity';
import { GetCallerIdentityCommand, STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import { startIdentityPoolEmulator, type IdentityPoolEmulator } from '../../../testkit/emulators/identity-pool-emulator.js';
import { startStsStub, type StsStub } from '../../../testkit/emulators/sts-stub.js';
import { startTestIssuer, type TestIssuer } from '../../support/local-stack-issuer.js';

const REGION = 'us-east-1';
const PATHED_ROLE = 'arn:aws:iam::210987654321:role/team/app/data-reader';

let issuer: TestIssuer;
let emulator: IdentityPoolEmulator;
let sts: StsStub;
let clockOffsetMs = 0;
const now = () => Date.now() + clockOffsetMs;

t.before(async () => {
  issuer = await startTestIssuer();
  emulator = await startIdentityPoolEmulator({
    region: REGION,
    providers: { [issuer.loginsKey]: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, clientIds: [issuer.clientId] } },
    credentialLifetimeSeconds: 900,
    now,
  });
  sts = await startStsStub({ credentials: emulator, now });
});
t.afterEach(() => {
  clockOffsetMs = 0;
});
t.teardown(async () => {
  await sts.close();
  await emulator.close();
  await issuer.close();
});

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

async function issueCredentials(sub: string, claims = {}, customRoleArn?: string): Promise<Creds> {
  const client = new CognitoIdentityClient({ region: REGION, endpoint: emulator.url, maxAttempts: 1 });
  try {
    const token = await issuer.mintIdToken(sub, claims);
    const Logins = { [issuer.loginsKey]: token };
    const { IdentityId } = await client.send(new GetIdCommand({ IdentityPoolId: emulator.identityPoolId, Logins }));
    const { Credentials: c } = await client.send(
      new GetCredentialsForIdentityCommand({ IdentityId, Logins, CustomRoleArn: customRoleArn }),
    );
    return { accessKeyId: c?.AccessKeyId ?? '', secretAccessKey: c?.SecretKey ?? '', sessionToken: c?.SessionToken ?? '' };
  } finally {
    client.destroy();
  }
}

type HttpRequestLike = { body: string; headers: Record<string, string> };
type Middleware = Parameters<STSClient['middlewareStack']['addRelativeTo']>[0];

/** Changes the request after the SDK signed it: the change is not covered by the signature. */
function afterSigning(client: STSClient, change: (request: HttpRequestLike) => void): void {
  const middleware = (next: (args: { request: unknown }) => Promise<unknown>) => async (args: { request: unknown }) => {
    change(args.request as HttpRequestLike);
    return next(args);
  };
  client.middlewareStack.addRelativeTo(middleware as unknown as Middleware, {
    relation: 'after',
    toMiddleware: 'httpSigningMiddleware',
    name: 'tamper',
  });
}

function stsClient(credentials: Partial<Creds> & { accessKeyId: string; secretAccessKey: string }, config: STSClientConfig = {}) {
  const client = new STSClient({ region: REGION, endpoint: sts.url, maxAttempts: 1, credentials, ...config });
  t.teardown(() => client.destroy());
  return client;
}

t.test('accepts a request the JS SDK signed with emulator-issued credentials', async (t) => {
  const creds = await issueCredentials('user-a');
  const out = await stsClient(creds).send(new GetCallerIdentityCommand({}));
  t.equal(out.Arn, 'arn:aws:sts::123456789012:assumed-role/cognito-broker-local-authenticated/CognitoIdentityCredentials');
  t.equal(out.Account, '123456789012');
  t.match(out.UserId, /^AROA[0-9A-F]{17}:CognitoIdentityCredentials$/);
  t.ok(sts.acceptedAccessKeyIds().includes(creds.accessKeyId));
  t.match(sts.requests.at(-1), { protocol: 'query', action: 'GetCallerIdentity', accessKeyId: creds.accessKeyId, outcome: 'ok', userAgent: /aws-sdk-js/ });
});

t.test('answers with the role the credentials were issued for', async (t) => {
  const creds = await issueCredentials('user-roles', { 'cognito:roles': [PATHED_ROLE] }, PATHED_ROLE);
  const out = await stsClient(creds).send(new GetCallerIdentityCommand({}));
  t.equal(out.Arn, 'arn:aws:sts::210987654321:assumed-role/data-reader/CognitoIdentityCredentials');
  t.equal(out.Account, '210987654321');
});

t.test('rejects a wrong secret key', async (t) => {
  const creds = await issueCredentials('user-a');
  const wrong = { ...creds, secretAccessKey: `${creds.secretAccessKey.slice(0, -1)}${creds.secretAccessKey.endsWith('A') ? 'B' : 'A'}` };
  await t.rejects(stsClient(wrong).send(new GetCallerIdentityCommand({})), {
    name: 'SignatureDoesNotMatch',
    message: /signature we calculated does not match/,
    $metadata: { httpStatusCode: 403 },
  });
  t.notOk(sts.acceptedAccessKeyIds().includes(creds.accessKeyId));
});

t.test('rejects a wrong or missing session token', async (t) => {
  const creds = await issueCredentials('user-a');
  const other = await issueCredentials('user-b');
  await t.rejects(stsClient({ ...creds, sessionToken: other.sessionToken }).send(new GetCallerIdentityCommand({})), {
    name: 'InvalidClientTokenId',
    $metadata: { httpStatusCode: 403 },
  });
  await t.rejects(
    stsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey }).send(new GetCallerIdentityCommand({})),
    { name: 'InvalidClientTokenId' },
  );
});

t.test('rejects an access key the emulator never issued', async (t) => {
  await t.rejects(
    stsClient({ accessKeyId: 'ASIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x'.repeat(40), sessionToken: 'x' }).send(new GetCallerIdentityCommand({})),
    { name: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' },
  );
});

t.test('rejects expired credentials', async (t) => {
  const creds = await issueCredentials('user-a');
  clockOffsetMs = 901_000; // the emulator issued them for 900 s
  await t.rejects(stsClient(creds).send(new GetCallerIdentityCommand({})), {
    name: 'ExpiredToken',
    message: /expired/,
    $metadata: { httpStatusCode: 400 },
  });
  t.equal(sts.requests.at(-1)?.outcome, 'ExpiredToken');
});

t.test('rejects a request signed more than 15 minutes away from now', async (t) => {
  const creds = await issueCredentials('user-a');
  await t.rejects(stsClient(creds, { systemClockOffset: -20 * 60_000 }).send(new GetCallerIdentityCommand({})), {
    name: 'SignatureDoesNotMatch',
    message: /Signature expired/,
  });
});

t.test('rejects a body changed after signing, even with a matching content hash', async (t) => {
  const creds = await issueCredentials('user-a');
  const client = stsClient(creds);
  afterSigning(client, (request) => {
    request.body = 'Action=GetCallerIdentity&Version=2011-06-16';
    request.headers['x-amz-content-sha256'] = createHash('sha256').update(request.body).digest('hex');
  });
  await t.rejects(client.send(new GetCallerIdentityCommand({})), { name: 'SignatureDoesNotMatch', message: /signature we calculated/ });
});

t.test('rejects a body that does not match its signed x-amz-content-sha256', async (t) => {
  const creds = await issueCredentials('user-a');
  const client = stsClient(creds);
  afterSigning(client, (request) => {
    request.body = 'Action=GetCallerIdentity&Version=2011-06-16';
  });
  await t.rejects(client.send(new GetCallerIdentityCommand({})), { name: 'SignatureDoesNotMatch', message: /x-amz-content-sha256/ });
});

t.test('answers the awsJson1_0 variant of GetCallerIdentity too', async (t) => {
  const creds = await issueCredentials('user-a');
  const client = stsClient(creds);
  // Rewrite the query request into the JSON protocol before it is signed.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { body: string; headers: Record<string, string> };
      request.headers['content-type'] = 'application/x-amz-json-1.0';
      request.headers['x-amz-target'] = 'AWSSecurityTokenServiceV20110615.GetCallerIdentity';
      request.body = '{}';
      request.headers['content-length'] = '2';
      return next(args);
    },
    { step: 'build', name: 'toJson' },
  );
  let body = '';
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as { body: AsyncIterable<Uint8Array> };
      const chunks: Uint8Array[] = [];
      for await (const chunk of response.body) chunks.push(chunk);
      body = Buffer.concat(chunks).toString('utf8');
      throw new Error('captured');
    },
    { step: 'deserialize', name: 'capture', priority: 'low' },
  );
  await t.rejects(client.send(new GetCallerIdentityCommand({})), { message: 'captured' });
  t.match(JSON.parse(body), { Account: '123456789012', Arn: /assumed-role\/cognito-broker-local-authenticated\/CognitoIdentityCredentials$/ });
  t.match(sts.requests.at(-1), { protocol: 'json', outcome: 'ok' });
});

t.test('malformed and unsigned requests get STS-style XML errors', async (t) => {
  const unsigned = await fetch(sts.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=GetCallerIdentity&Version=2011-06-15',
  });
  t.equal(unsigned.status, 403);
  t.match(await unsigned.text(), /<Code>MissingAuthenticationToken<\/Code>/);
  const garbled = await fetch(sts.url, { method: 'POST', headers: { authorization: 'AWS4-HMAC-SHA256 nonsense' }, body: 'x' });
  t.equal(garbled.status, 403);
  t.match(await garbled.text(), /<Code>IncompleteSignature<\/Code>/);
  const huge = await fetch(sts.url, { method: 'POST', body: 'x'.repeat(200_000) });
  t.equal(huge.status, 413);
});

t.test('rejects actions other than GetCallerIdentity, after checking the signature', async (t) => {
  const creds = await issueCredentials('user-a');
  const client = stsClient(creds);
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { body: string; headers: Record<string, string> };
      request.body = 'Action=AssumeRole&Version=2011-06-15';
      request.headers['content-length'] = String(request.body.length);
      return next(args);
    },
    { step: 'build', name: 'otherAction' },
  );
  await t.rejects(client.send(new GetCallerIdentityCommand({})), { name: 'InvalidAction', $metadata: { httpStatusCode: 400 } });
});

const execFileAsync = promisify(execFile);

async function awsCli(creds: Creds, region = REGION) {
  return execFileAsync('aws', ['sts', 'get-caller-identity', '--endpoint-url', sts.url, '--region', region, '--output', 'json'], {
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      AWS_SESSION_TOKEN: creds.sessionToken,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_MAX_ATTEMPTS: '1',
    },
  });
}

const haveAwsCli = spawnSync('aws', ['--version']).status === 0;

t.test('accepts the AWS CLI (botocore, awsQuery) and rejects it with a wrong secret', { skip: !haveAwsCli && 'no aws CLI on PATH' }, async (t) => {
  const creds = await issueCredentials('user-cli');
  const { stdout } = await awsCli(creds, 'eu-central-1');
  t.match(JSON.parse(stdout), { Account: '123456789012', Arn: /assumed-role\/cognito-broker-local-authenticated\/CognitoIdentityCredentials$/ });
  t.match(sts.requests.at(-1), { protocol: 'query', outcome: 'ok', userAgent: /aws-cli\/1\./ });
  const failure = await awsCli({ ...creds, secretAccessKey: 'x'.repeat(40) }).then(
    () => undefined,
    (error: { stderr?: string }) => error,
  );
  t.match(failure?.stderr, /SignatureDoesNotMatch/);
});
