import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { awsCliV1, awsCliV2ExportCredentials, boto3Client, clientEnv, hasDebianAwsCli, jsSdkClient } from '../support/aws-clients.js';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { startKeychainWorker } from '../support/secret-service.js';

const FULL_URI = 'AWS_CONTAINER_CREDENTIALS_FULL_URI';
const TOKEN = 'AWS_CONTAINER_AUTHORIZATION_TOKEN';
const TOKEN_FILE = 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE';

t.test('login, serve, and every real AWS client gets the broker\'s credentials', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const { stack } = be;

  const login = await runCli(['login', '--password-stdin'], be.env, `${stack.password}\n`);
  t.equal(login.code, 0, `login exits 0: ${login.stderr}`);
  t.match(login.stderr, /Signed in as test-user/);

  const serve = await startServe(['--log-level', 'trace'], be.env);
  t.teardown(() => serve.stop());
  const { exports } = serve;
  t.match(exports[FULL_URI], /^http:\/\/127\.0\.0\.1:\d+\/credentials$/);
  t.match(exports[TOKEN], /^[0-9a-f]{64}$/);

  // The endpoint itself, as an SDK calls it.
  const response = await fetch(exports[FULL_URI] as string, { headers: { authorization: exports[TOKEN] as string } });
  t.equal(response.status, 200);
  const served = (await response.json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string; Expiration: string };
  t.ok(stack.emulator.issued.has(served.AccessKeyId), 'credentials issued by the identity pool');
  t.ok(Date.parse(served.Expiration) - Date.now() > 15 * 60_000, 'with more than 15 minutes left');

  const base = { region: stack.region, stsUrl: stack.stsUrl };
  const viaTokenFile = { ...base, env: clientEnv(be.env, exports, [FULL_URI, TOKEN_FILE]) };
  const viaToken = { ...base, env: clientEnv(be.env, exports, [FULL_URI, TOKEN]) };

  const chain = await jsSdkClient(viaTokenFile, 'default-chain');
  t.equal(chain.accessKeyId, served.AccessKeyId, 'JS SDK default chain (fromHttp, token file)');
  t.match(chain.arn, /^arn:aws:sts::\d{12}:assumed-role\//, 'and its signed STS call was accepted');

  const metadata = await jsSdkClient(viaToken, 'container-metadata');
  t.equal(metadata.accessKeyId, served.AccessKeyId, 'JS SDK fromContainerMetadata (token value)');

  const boto = await boto3Client(viaTokenFile);
  t.same([boto.accessKeyId, boto.method], [served.AccessKeyId, 'container-role'], 'boto3');
  t.match(boto.arn, /assumed-role/);

  const cli = await awsCliV1(viaToken);
  t.match(cli.configureList, /access_key\s+\*+\S{4}\s+container-role/, 'aws configure list names the container credentials');
  t.match(cli.arn, /assumed-role/, 'AWS CLI v1 signed call carried them');

  if (hasDebianAwsCli()) {
    const v2 = await awsCliV2ExportCredentials(viaToken);
    t.equal(v2.accessKeyId, served.AccessKeyId, "Debian's AWS CLI 2.9 export-credentials");
  } else if (process.env.CI) {
    t.fail("Debian's awscli (/usr/bin/aws) is not installed; .ci/run installs it");
  } else {
    t.comment("SKIP: Debian's awscli not installed (apt-get install awscli)");
  }
  t.same(new Set(stack.sts.acceptedAccessKeyIds()), new Set([served.AccessKeyId]), 'the STS stub verified only the broker\'s key');

  // /token for bearer-token tools: with a token that opens it (env --with-id-token); serve's
  // own opens the credentials only.
  t.equal((await fetch(exports[FULL_URI]!.replace('/credentials', '/token'), { headers: { authorization: exports[TOKEN] as string } })).status, 403, 'serve\'s token: not the ID token');
  const withIdToken = /^export AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)$/m.exec((await runCli(['env', '--with-id-token'], be.env)).stdout)?.[1] as string;
  const tokenResponse = await fetch(exports[FULL_URI]!.replace('/credentials', '/token'), { headers: { authorization: withIdToken } });
  const tokens = (await tokenResponse.json()) as { IdToken: string; AccessToken: string; Expiration: string };
  t.equal(tokenResponse.status, 200);
  t.match(tokens.IdToken, /^eyJ/);
  const claims = JSON.parse(Buffer.from(tokens.IdToken.split('.')[1] as string, 'base64url').toString()) as { exp: number; token_use: string; iss: string };
  t.equal(claims.token_use, 'id');
  t.equal(claims.iss, stack.issuer);
  t.equal(Date.parse(tokens.Expiration), claims.exp * 1000);

  // `env` prints the same lines for the running daemon.
  const envOut = await runCli(['env'], be.env);
  t.equal(envOut.code, 0, envOut.stderr);
  t.match(envOut.stdout, new RegExp(`export ${FULL_URI}=${exports[FULL_URI]}\\n`));
  t.match(envOut.stdout, new RegExp(`export ${TOKEN}=${exports[TOKEN]}\\n`));
  t.match(envOut.stdout, /unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/);

  // The token file: 0600 in a 0700 directory, no trailing newline.
  const tokenFile = exports[TOKEN_FILE] as string;
  t.equal(statSync(tokenFile).mode & 0o777, 0o600);
  t.equal(statSync(dirname(tokenFile)).mode & 0o777, 0o700);
  t.equal(readFileSync(tokenFile, 'utf8'), exports[TOKEN], 'exactly the token, no newline');

  // No secret in the log (at trace level), in login's output, in argv or in the daemon file.
  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const stored = JSON.parse((await keychain.get('profile:default')) as string) as { refreshToken: string };
  await keychain.stop();
  t.ok(stored.refreshToken.length > 20, 'the refresh token is in the keychain');
  const secrets = { refreshToken: stored.refreshToken, idToken: tokens.IdToken, accessToken: tokens.AccessToken, secretKey: served.SecretAccessKey, sessionToken: served.Token, endpointToken: exports[TOKEN] as string, password: stack.password };
  const places = {
    'serve log': serve.stderr(),
    'login output': login.stdout + login.stderr,
    'serve argv': readFileSync(`/proc/${serve.child.pid}/cmdline`, 'utf8'),
    'daemon file': readFileSync(join(be.dir, 'state', 'cognito-broker', 'daemon.json'), 'utf8'),
  };
  t.match(places['serve log'], /session refreshed/, 'the log was captured');
  for (const [where, text] of Object.entries(places)) {
    for (const [what, secret] of Object.entries(secrets)) t.notOk(text.includes(secret), `no ${what} in the ${where}`);
  }

  t.equal(await serve.stop(), 0, 'SIGTERM shuts down cleanly');
  const after = await runCli(['env'], be.env);
  t.equal(after.code, 1);
  t.match(after.stderr, /BRK_ERR_DAEMON_NOT_RUNNING/);
});

t.test('login with a wrong password fails clearly and stores nothing', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const result = await runCli(['login', '--password-stdin'], be.env, 'wrong-password');
  t.equal(result.code, 1);
  t.match(result.stderr, /Sign-in refused by the user pool.*BRK_ERR_SIGN_IN_FAILED/);
  t.notMatch(result.stderr, /at .*\.ts:\d+/, 'no stack trace');
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const res = await fetch(serve.exports[FULL_URI] as string, { headers: { authorization: serve.exports[TOKEN] as string } });
  t.equal(res.status, 503);
  t.match(await res.json(), { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: /cognito-broker login/ });
});

t.test('login without a terminal to ask says so', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const result = await runCli(['login'], be.env);
  t.equal(result.code, 1);
  t.match(result.stderr, /not a terminal.*--password-stdin.*BRK_ERR_NO_TERMINAL/s);
});
