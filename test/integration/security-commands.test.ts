/**
 * security-logs.test.ts holds serve to "no secret in any log line"; this holds the other
 * commands that handle secrets to the same: token, credential-process, roles, exec and
 * request, through the compiled CLI at the most verbose log level
 * (COGNITO_BROKER_LOG_LEVEL=trace). Without a daemon each runs the broker in its own process,
 * whose log goes to the command's stderr; with one they ask it. Either way, and when the
 * identity pool fails quoting secrets back, no refresh token, ID or access token, secret key,
 * session token, endpoint token or password may reach their stderr. Their stdout is another
 * matter: printing a token or credentials there is what token and credential-process are for.
 */
import t from 'tap';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { type CliResult, runCli, startServe } from '../support/cli.js';
import { startKeychainWorker } from '../support/secret-service.js';
import { startSigv4Verifier } from '../support/sigv4-verifier.js';

/** Run by exec: takes credentials from the endpoint exec gave it and prints what it saw (stdout only). */
const EXEC_CHILD = `
const token = process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
const res = await fetch(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, { headers: { authorization: token } });
const c = await res.json();
console.log(JSON.stringify({ status: res.status, token, secretKey: c.SecretAccessKey, sessionToken: c.Token }));
`;

const JWT_SHAPED = /eyJ[\w-]{10,}\.eyJ[\w-]{10,}/;

t.test('no secret on the stderr of token, credential-process, roles, exec and request at trace level, in-process and through the daemon', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const { stack } = be;
  const env = { ...be.env, COGNITO_BROKER_LOG_LEVEL: 'trace' };
  const login = await runCli(['login', '--password-stdin'], be.env, `${stack.password}\n`);
  t.equal(login.code, 0, login.stderr);
  const verifier = await startSigv4Verifier(stack.emulator, { service: 'execute-api', region: stack.region });
  t.teardown(() => verifier.close());
  verifier.acceptToken = () => true;
  const api = `${verifier.url}/prod/items`;

  const stderrs: Record<string, string> = {};
  /** Secrets the commands printed on stdout, as they should: each is searched for on every stderr. */
  const printed: [string, string][] = [];
  const run = async (label: string, args: string[], expectedCode = 0): Promise<CliResult> => {
    const result = await runCli(args, env);
    t.equal(result.code, expectedCode, `${label}: exit ${expectedCode} ${result.code === expectedCode ? '' : result.stderr}`);
    stderrs[label] = result.stderr;
    return result;
  };

  const everyCommand = async (where: 'in-process' | 'daemon') => {
    const id = await run(`${where}: token`, ['token']);
    const access = await run(`${where}: token --access`, ['token', '--access']);
    printed.push([`${where} ID token`, id.stdout.trim()], [`${where} access token`, access.stdout.trim()]);
    const cp = JSON.parse((await run(`${where}: credential-process`, ['credential-process'])).stdout || '{}') as { SecretAccessKey: string; SessionToken: string };
    printed.push([`${where} credential-process secret key`, cp.SecretAccessKey], [`${where} credential-process session token`, cp.SessionToken]);
    await run(`${where}: roles`, ['roles']);
    await run(`${where}: roles --json`, ['roles', '--json']);
    const exec = await run(`${where}: exec`, ['exec', '--', process.execPath, '--input-type=module', '-e', EXEC_CHILD]);
    const child = JSON.parse(exec.stdout || '{}') as { status: number; token: string; secretKey: string; sessionToken: string };
    t.equal(child.status, 200, `${where}: exec's child got credentials`);
    printed.push([`${where} exec endpoint token`, child.token], [`${where} exec secret key`, child.secretKey]);
    await run(`${where}: request (SigV4)`, ['request', '--service', 'execute-api', '--region', stack.region, '-d', 'x=1', api]);
    await run(`${where}: request --auth id-token`, ['request', '--auth', 'id-token', api]);
    await run(`${where}: request --auth access-token --bearer`, ['request', '--auth', 'access-token', '--bearer', api]);
  };

  // No daemon: the broker runs in each command's process and logs on its stderr.
  await everyCommand('in-process');
  for (const label of ['in-process: token', 'in-process: credential-process', 'in-process: exec', 'in-process: request (SigV4)']) {
    t.match(stderrs[label], /"msg":"session refreshed"/, `${label}: its in-process broker logged at trace level (the check below has lines to search)`);
  }
  t.match(stderrs['in-process: token'], /"level":20/, 'debug lines too');

  // The identity pool fails, quoting secrets back in its message (as a careless upstream or proxy might).
  const quoted = printed.map(([, secret]) => secret).join(' ');
  for (const [label, args] of [['credential-process', ['credential-process']], ['exec', ['exec', '--', 'true']], ['request (SigV4)', ['request', '--service', 'execute-api', '--region', stack.region, api]]] as const) {
    stack.emulator.failNext('GetCredentialsForIdentity', { status: 400, type: 'InvalidParameterException', message: `boom ${quoted}` });
    const failed = await run(`in-process, identity pool failing: ${label}`, [...args], 1);
    t.match(failed.stderr, /\[BRK_ERR_[A-Z_]+\]/, `${label}: the failure is reported, with its code`);
  }

  // With the daemon (at trace level too): the commands ask it and log nothing themselves.
  const serve = await startServe([], env);
  t.teardown(() => serve.stop());
  const endpointToken = serve.master();
  const profileToken = serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string;
  await everyCommand('daemon');
  for (const label of Object.keys(stderrs).filter((l) => l.startsWith('daemon: '))) t.equal(stderrs[label], '', `${label}: nothing on stderr`);
  t.equal(await serve.stop(), 0);
  stderrs['serve log'] = serve.stderr();

  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const { refreshToken } = JSON.parse((await keychain.get('profile:default')) as string) as { refreshToken: string };
  await keychain.stop();

  const secrets: [string, string][] = [
    ['refresh token', refreshToken],
    ['password', stack.password],
    ['daemon master token', endpointToken],
    ['daemon profile token', profileToken],
    ...printed,
    ...[...stack.emulator.issued.values()].flatMap((c, i): [string, string][] => [[`secret key #${i}`, c.secretKey], [`session token #${i}`, c.sessionToken]]),
  ];
  t.ok(secrets.every(([, s]) => typeof s === 'string' && s.length >= 16), 'every secret was captured and is long enough to search for');
  t.ok(stack.emulator.issued.size >= 4, `${stack.emulator.issued.size} credential sets issued over the run`);

  for (const [where, text] of Object.entries(stderrs)) {
    const found = secrets.filter(([, secret]) => encodings(secret).some((form) => text.includes(form))).map(([what]) => what);
    t.same(found, [], `no secret on the stderr of ${where}`);
    t.notMatch(text, JWT_SHAPED, `nothing JWT-shaped on the stderr of ${where}`);
  }
});

/** A secret as text and in the encodings a serializer could give it. */
function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, JSON.stringify(secret).slice(1, -1), bytes.toString('base64'), bytes.toString('hex')];
}
