/**
 * A whole run at the most verbose log level, with every kind of failure we can cause, and
 * then a search of everything the broker wrote for every secret it handled: login, serve,
 * refreshes, wrong and missing tokens, an unknown profile, browser and malformed requests,
 * an identity pool that fails (with the secrets in its error message), and shutdown.
 * Also: serve's argv, its environment and its child processes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { waitForStatus } from '../support/wait-for-status.js';
import { startKeychainWorker } from '../support/secret-service.js';
import { rawRequest } from '../support/raw-http.js';

/** Short lifetimes, so that the run sees refreshes: renewed at half, i.e. every 7 s. */
const LIFETIME_S = 14;
const REFRESH_WAIT_MS = 25_000;

interface Served {
  credentials: { AccessKeyId: string; SecretAccessKey: string; Token: string }[];
  tokens: { IdToken: string; AccessToken: string }[];
}

t.test('no secret in any log line at trace level, in any output, argv, environment or daemon file, through a whole run', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv({ idTokenLifetimeSeconds: LIFETIME_S, credentialLifetimeSeconds: LIFETIME_S });
  t.teardown(() => be.stop());
  const { stack } = be;
  const wrongPassword = `Wrong-${stack.password}-9`;

  const failedLogin = await runCli(['login', '--password-stdin'], be.env, wrongPassword);
  t.equal(failedLogin.code, 1, 'a wrong password fails');
  const login = await runCli(['login', '--password-stdin'], be.env, `${stack.password}\n`);
  t.equal(login.code, 0, `login: ${login.stderr}`);

  const serve = await startServe(['--log-level', 'trace'], be.env);
  t.teardown(() => serve.stop());
  const url = serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string;
  // The master (every route, /token included); serve printed the default profile's token.
  const endpointToken = serve.master();
  const profileToken = serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string;
  const base = url.replace(/\/credentials$/, '');
  const port = Number(new URL(base).port);
  const served: Served = { credentials: [], tokens: [] };
  const fetchBoth = async () => {
    const c = await fetch(url, { headers: { authorization: endpointToken } });
    t.equal(c.status, 200, 'credentials served');
    served.credentials.push((await c.json()) as Served['credentials'][number]);
    const k = await fetch(`${base}/token`, { headers: { authorization: endpointToken } });
    t.equal(k.status, 200, 'tokens served');
    served.tokens.push((await k.json()) as Served['tokens'][number]);
  };
  // The first refresh may still run (a 503 to retry, as SDKs do); the test is about logs.
  t.equal(await waitForStatus(url, endpointToken), 200, 'serving after the first refresh');
  await fetchBoth();
  const first = served.tokens[0] as Served['tokens'][number];

  // Requests that fail in every way a client can make them fail.
  const host = `Host: 127.0.0.1:${port}`;
  for (const authorization of ['wrong', `${endpointToken}x`, `Bearer ${endpointToken}`, first.IdToken]) {
    t.equal((await fetch(url, { headers: { authorization } })).status, 401, 'a wrong token is refused');
  }
  t.equal((await fetch(url)).status, 401, 'no token is refused');
  t.equal((await fetch(`${base}/profiles/nope/credentials`, { headers: { authorization: endpointToken } })).status, 404, 'an unknown profile');
  t.equal((await rawRequest(port, `GET /credentials HTTP/1.1\r\n${host}\r\nAuthorization: ${endpointToken}\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n`)).status, 403, 'a browser request');
  t.equal((await rawRequest(port, `GET /credentials HTTP/1.1\r\nHost: evil.example\r\nAuthorization: ${endpointToken}\r\nConnection: close\r\n\r\n`)).status, 403, 'a foreign Host');
  t.equal((await rawRequest(port, `GET /credentials HTTP/1.1\r\n${host}\r\nAuthorization: ${endpointToken}\r\nX-Bad: a\u0001b\r\n\r\n`)).status, 400, 'a malformed request carrying the token');
  t.equal((await rawRequest(port, `GET /credentials HTTP/1.1\r\n${host}\r\nAuthorization: ${endpointToken}\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`)).status, 431, 'oversize headers carrying the token');

  // The identity pool fails the next refresh, quoting the secrets back in its message (as a
  // careless upstream or proxy might); the broker retries and recovers.
  const fault = { status: 500, type: 'InternalErrorException', message: `boom ${first.IdToken} ${first.AccessToken} ${endpointToken}` };
  stack.emulator.failNext('GetCredentialsForIdentity', fault, 2);
  const deadline = Date.now() + REFRESH_WAIT_MS;
  while (Date.now() < deadline && !recoveredAfterFailure(serve.stderr())) await new Promise((resolve) => setTimeout(resolve, 250));
  t.match(serve.stderr(), /BRK_ERR_UPSTREAM/, 'the upstream failure was logged');
  t.ok(recoveredAfterFailure(serve.stderr()), 'and the broker refreshed the credentials after it');
  await fetchBoth();

  // What a process can see of serve from outside, while it runs.
  const pid = serve.child.pid as number;
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  const given = new Set(Object.entries({ ...be.env, NODE_NO_WARNINGS: '1' }).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`));
  // The test harness's coverage hooks (tap's, or test/support/child-coverage.mjs) come with every
  // process a test spawns; without coverage, the harness leaves an empty NODE_OPTIONS.
  const added = environ.filter((entry) => !given.has(entry) && !/^_TAPJS_|^NODE_OPTIONS=(.*(@tapjs|child-coverage).*)?$/.test(entry));
  t.same(added, [], "serve's environment holds only what it was given");
  t.notOk(environ.some((e) => e.startsWith('AWS_')), 'no AWS_* variable, no token, in its environment');
  t.same(argv.slice(2), ['serve', '--log-level', 'trace'], 'argv: the command and options only');
  t.same(childrenOf(pid), [], 'serve spawns no process');

  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const stored = JSON.parse((await keychain.get('profile:default')) as string) as { refreshToken: string };
  await keychain.stop();
  const daemonFile = readFileSync(join(be.dir, 'state', 'cognito-broker', 'daemon.json'), 'utf8');
  t.same(Object.keys(JSON.parse(daemonFile) as object).sort(), ['config', 'defaultProfile', 'pid', 'profiles', 'socket', 'startedAt', 'tokenFile', 'url'], 'daemon.json: where, not what');
  const promptFile = readFileSync(join(be.dir, 'state', 'cognito-broker', 'prompt.json'), 'utf8');
  t.equal(await serve.stop(), 0, 'SIGTERM: clean exit');
  if (process.env.SHOW_LOG) console.error(serve.stderr());

  // Every secret the run handled.
  const secrets: [string, string][] = [
    ['refresh token', stored.refreshToken],
    ['password', stack.password],
    ['wrong password', wrongPassword],
    ['endpoint master token', endpointToken],
    ['profile token', profileToken],
    ...served.tokens.flatMap((k, i): [string, string][] => [[`ID token #${i}`, k.IdToken], [`access token #${i}`, k.AccessToken]]),
    ...[...stack.emulator.issued.values()].flatMap((c, i): [string, string][] => [[`secret key #${i}`, c.secretKey], [`session token #${i}`, c.sessionToken]]),
  ];
  t.ok(stack.emulator.issued.size >= 2, `${stack.emulator.issued.size} credential sets issued over the run`);
  t.ok(secrets.every(([, s]) => s.length >= 8), 'every secret is long enough to search for');

  const lines = serve.stderr().split('\n').filter(Boolean);
  const parsed = lines.map((line) => {
    try {
      return JSON.parse(line) as { level: number; msg: string };
    } catch {
      return undefined;
    }
  });
  t.same(lines.filter((_, i) => parsed[i] === undefined), [], 'every line serve wrote to stderr is a JSON log line');
  const levels = new Set(parsed.map((p) => p?.level));
  t.ok(levels.has(20) && levels.has(30) && levels.has(40), `debug, info and warn lines were all written (${lines.length} lines; nothing logs at trace yet)`);
  for (const marker of [/session refreshed/, /missing or wrong Authorization/, /malformed request refused/, /BRK_ERR_UPSTREAM/, /shutting down/]) {
    t.match(serve.stderr(), marker, `the log covers ${marker.source}`);
  }

  const places: Record<string, string> = {
    'serve log': serve.stderr(),
    'login output': login.stdout + login.stderr,
    'failed login output': failedLogin.stdout + failedLogin.stderr,
    'serve argv': argv.join(' '),
    'serve environment': environ.join('\n'),
    'daemon.json': daemonFile,
    'prompt.json': promptFile,
  };
  for (const [where, text] of Object.entries(places)) {
    const found = secrets.filter(([, secret]) => encodings(secret).some((form) => text.includes(form))).map(([what]) => what);
    t.same(found, [], `no secret in the ${where}`);
  }
  t.notMatch(serve.stderr(), /eyJ[\w-]{10,}\.eyJ[\w-]{10,}/, 'nothing JWT-shaped in the log');
});

/** A "session refreshed" line after the last failed refresh. */
function recoveredAfterFailure(log: string): boolean {
  const lines = log.split('\n');
  const lastFailure = lines.findLastIndex((l) => l.includes('BRK_ERR_UPSTREAM'));
  return lastFailure >= 0 && lines.slice(lastFailure).some((l) => l.includes('session refreshed'));
}

/** A secret as text and in the encodings a serializer could give it. */
function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, JSON.stringify(secret).slice(1, -1), [...bytes].join(','), bytes.toString('base64'), bytes.toString('hex')];
}

function childrenOf(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean));
}
