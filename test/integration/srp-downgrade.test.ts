/**
 * `login` against a user pool that answers USER_SRP_AUTH with "unsupported" (as cognito-local
 * does), through the compiled CLI: on this machine it falls back to USER_PASSWORD_AUTH and
 * says so; at any other address the password is never sent unless --auth-flow user-password
 * asks for it. The "other address" is this machine's own network interface, so the test needs
 * no network, only an interface that is not loopback.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { closeServer, listen } from '../../testkit/http.js';
import { requireSecretService, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { runCli } from '../support/cli.js';
import { startSecretService, type SecretService } from '../support/secret-service.js';

const PASSWORD = 'Plain-text-passw0rd!';

interface Received {
  readonly target: string;
  readonly body: string;
}

/** cognito-local 5.3's answer to USER_SRP_AUTH; a refusal for anything else (the flow ends there). */
async function startUnsupportedPool(t: Test) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      received.push({ target, body });
      const srp = body.includes('"USER_SRP_AUTH"');
      res.writeHead(srp ? 500 : 400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(srp
        ? { __type: 'CognitoLocal#Unsupported', message: 'Cognito Local unsupported feature: InitAuth with AuthFlow=USER_SRP_AUTH' }
        : { __type: 'NotAuthorizedException', message: 'Incorrect username or password.' }));
    });
  });
  const { port } = await listen(server, '0.0.0.0', 0);
  t.teardown(() => closeServer(server));
  return { port, received };
}

/** An IPv4 address of this machine that is not loopback, or undefined. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

let secretService: SecretService | undefined;
const ready = requireSecretService(t);
t.before(async () => {
  if (ready) secretService = await startSecretService();
});
t.teardown(async () => {
  await secretService?.stop();
});

function cliEnv(t: Test, cognitoIdp: string): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-srp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({
    profiles: {
      default: {
        region: 'us-east-1',
        userPoolId: 'us-east-1_Pool12345',
        clientId: 'client12345',
        identityPoolId: 'us-east-1:11111111-2222-3333-4444-555555555555',
        // A pool on another address is reached over plain http here only because the test
        // opts in; the broker refuses that by default.
        endpoints: { cognitoIdp, cognitoIdentity: cognitoIdp, allowInsecureHttp: true },
      },
    },
  }));
  return {
    PATH: process.env.PATH,
    ...secretService?.env,
    COGNITO_BROKER_CONFIG: configFile,
    COGNITO_BROKER_KEYCHAIN_SERVICE: TEST_KEYCHAIN_SERVICE,
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
  };
}

const flows = (received: readonly Received[]) => received.map((r) => /"AuthFlow":"(\w+)"/.exec(r.body)?.[1] ?? r.target);
const login = (env: NodeJS.ProcessEnv, extra: string[] = []) => runCli(['login', '--username', 'alice', '--password-stdin', ...extra], env, PASSWORD);

t.test('a user pool on this machine without SRP: login falls back to USER_PASSWORD_AUTH and says so', { skip: !ready }, async (t) => {
  const pool = await startUnsupportedPool(t);
  const out = await login(cliEnv(t, `http://127.0.0.1:${pool.port}`));
  t.same(flows(pool.received), ['USER_SRP_AUTH', 'USER_PASSWORD_AUTH'], 'the fallback happened');
  t.match(out.stderr, /local user pool at endpoints\.cognitoIdp does not implement SRP \(USER_SRP_AUTH\); signing in with USER_PASSWORD_AUTH instead/);
  t.match(out.stderr, /BRK_ERR_SIGN_IN_FAILED/, 'and the refusal of this pool is reported as such');
  t.notOk(out.stderr.includes(PASSWORD), 'the password is not printed');

  const strict = await startUnsupportedPool(t);
  const refused = await login(cliEnv(t, `http://127.0.0.1:${strict.port}`), ['--auth-flow', 'srp']);
  t.equal(refused.code, 1);
  t.same(flows(strict.received), ['USER_SRP_AUTH'], '--auth-flow srp: never downgraded');
  t.match(refused.stderr, /BRK_ERR_SRP_UNSUPPORTED/);
});

const address = externalAddress();
const noInterface = address === undefined && 'this machine has no network interface other than loopback';

t.test('a user pool anywhere else that says it has no SRP: an error naming --auth-flow user-password, and the password is never sent', { skip: !ready || noInterface }, async (t) => {
  if (!address) return;
  const pool = await startUnsupportedPool(t);
  const env = cliEnv(t, `http://${address}:${pool.port}`);
  const out = await login(env);
  t.equal(out.code, 1);
  t.match(out.stderr, new RegExp(`The user pool at http://${address.replaceAll('.', '\\.')}:${pool.port} says it does not implement SRP sign-in`));
  t.match(out.stderr, /sign in with --auth-flow user-password\. \[BRK_ERR_SRP_UNSUPPORTED\]\n$/);
  t.same(flows(pool.received), ['USER_SRP_AUTH'], 'no USER_PASSWORD_AUTH');
  t.notOk(pool.received.some((r) => r.body.includes(PASSWORD)), 'the password never reached the server');
  t.notMatch(out.stderr, /signing in with USER_PASSWORD_AUTH instead/);

  const optedIn = await login(env, ['--auth-flow', 'user-password']);
  t.equal(optedIn.code, 1, 'this pool refuses the password too');
  t.same(flows(pool.received).slice(1), ['USER_PASSWORD_AUTH'], 'only the explicit --auth-flow user-password sends it');
});
