import { readFileSync } from 'node:fs';
import t from 'tap';
import { decodeJwt } from 'jose';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { CLI_BIN as MAIN, runCli, spawnCli, startServe } from '../support/cli.js';
import { onTerminal } from '../support/pty.js';
import { startKeychainWorker } from '../support/secret-service.js';
import { startSigv4Verifier } from '../support/sigv4-verifier.js';
import { waitFor } from '../../testkit/wait.js';

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

const STATUS_KEYS = [
  'profile', 'state', 'signedIn', 'user', 'signInMethod', 'signedInAt', 'signInFrom', 'customRoleArn', 'identityId',
  'idTokenExpiresAt', 'credentialsExpireAt', 'lastRefreshAt', 'retryAt', 'lastError', 'upstreamCalls', 'secretStore', 'shellError',
];

interface StatusJson {
  daemon: { running: boolean; url?: string; pid?: number; reason?: string };
  defaultProfile: string;
  profiles: Record<string, unknown>[];
}

t.test('status, token and request, without and with the daemon, through the compiled CLI', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const verifier = await startSigv4Verifier(be.stack.emulator, { service: 'execute-api', region: be.stack.region });
  t.teardown(() => verifier.close());
  const api = `${verifier.url}/prod/items?b=2&a=1`;
  const sigv4 = ['--service', 'execute-api', '--region', be.stack.region];

  // Not signed in, no daemon.
  const before = await runCli(['status', '--json'], be.env);
  t.equal(before.code, 3, `not signed in: exit 3 ${before.stderr}`);
  const beforeJson = JSON.parse(before.stdout) as StatusJson;
  t.equal(beforeJson.daemon.running, false);
  t.match(beforeJson.profiles, [{ profile: 'default', state: 'daemon-not-running', signedIn: false, user: null }]);
  t.same(Object.keys(beforeJson.profiles[0] ?? {}), STATUS_KEYS, 'every key, always, in this order');
  t.match(await runCli(['token'], be.env), { code: 1, stdout: '', stderr: /not signed in.*BRK_ERR_NOT_SIGNED_IN/ });

  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);

  // Signed in, no daemon: status from the keychain alone.
  const keychainOnly = await runCli(['status', '--json'], be.env);
  t.equal(keychainOnly.code, 4, 'signed in, daemon not running: exit 4');
  t.match(JSON.parse(keychainOnly.stdout), {
    daemon: { running: false, reason: /No cognito-broker answers/ },
    profiles: [{ profile: 'default', state: 'daemon-not-running', signedIn: true, user: be.stack.username, signInMethod: 'password', signedInAt: /^\d{4}-.*Z$/, identityId: null, upstreamCalls: null }],
  });
  // Bare status picks by what stdout is: the table on a terminal, JSON through a pipe.
  const ttyKeychainOnly = await statusOnTerminal(be.env);
  t.equal(ttyKeychainOnly.exit, 4, ttyKeychainOnly.output);
  t.match(ttyKeychainOnly.output, /^Daemon: not running \(No cognito-broker answers.*\)\n\nPROFILE\s+STATE\s+USER/, 'on a terminal: the table');
  t.match(ttyKeychainOnly.output, new RegExp(`^default \\*\\s+daemon not running\\s+${be.stack.username}\\s`, 'm'));
  t.notMatch(ttyKeychainOnly.output, /[{}"]/, 'no JSON on a terminal');
  const pipedKeychainOnly = await runCli(['status'], be.env);
  t.equal(pipedKeychainOnly.code, 4);
  t.match(JSON.parse(pipedKeychainOnly.stdout), { daemon: { running: false }, profiles: [{ profile: 'default', state: 'daemon-not-running', signedIn: true }] }, 'through a pipe: JSON');

  // token without the daemon: exactly the token and a newline, from Cognito in-process.
  const idToken = await runCli(['token'], be.env);
  t.equal(idToken.code, 0, idToken.stderr);
  t.match(idToken.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one JWT, one newline, nothing else');
  t.equal(idToken.stderr, '', 'nothing on stderr');
  const claims = decodeJwt(idToken.stdout.trim());
  t.equal(claims.iss, be.stack.issuer);
  t.equal(claims.token_use, 'id');
  const access = await runCli(['token', '--access'], be.env);
  t.equal(access.code, 0, access.stderr);
  t.match(access.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, '--access: one JWT, one newline');
  t.match(decodeJwt(access.stdout.trim()), { iss: be.stack.issuer, token_use: 'access' }, '--access: the access token');

  // request with a token. The verifier takes only the kind of token it is told to (an ID
  // token, as a Cognito authorizer; an access token, as an authorizer checking scopes) in
  // the form it is told to (bare, or after "Bearer " as HTTP API JWT authorizers take it).
  // Each in-process run refreshes anew, so the token itself is not known in advance.
  const expectToken = (use: 'id' | 'access', form: 'bare' | 'bearer') => {
    verifier.acceptToken = (value) => {
      if (value.startsWith('Bearer ') !== (form === 'bearer')) return false;
      try {
        const claims = decodeJwt(form === 'bearer' ? value.slice('Bearer '.length) : value);
        return claims.iss === be.stack.issuer && claims.token_use === use;
      } catch {
        return false;
      }
    };
  };
  const me = `${verifier.url}/prod/me`;
  const tokenRuns: Record<string, { stdout: string; stderr: string }> = {};
  const acceptedForms: [string, 'id' | 'access', 'bare' | 'bearer', string[]][] = [
    ['id-token', 'id', 'bare', []],
    ['id-token --bearer', 'id', 'bearer', ['--bearer']],
    ['access-token', 'access', 'bare', []],
    ['access-token --bearer', 'access', 'bearer', ['--bearer']],
  ];
  for (const [label, use, form, extra] of acceptedForms) {
    expectToken(use, form);
    const run = await runCli(['request', '--auth', label.split(' ')[0] as string, ...extra, me], be.env);
    tokenRuns[label] = run;
    t.equal(run.code, 0, `--auth ${label}: accepted (${run.stdout} ${run.stderr})`);
    t.same(JSON.parse(run.stdout), { ok: true, auth: 'token', path: '/prod/me', body: '' }, `--auth ${label}: the API's body on stdout`);
    const sent = verifier.requests.at(-1)?.authorization ?? '';
    t.match(form === 'bearer' ? sent.replace(/^Bearer /, '') : sent, JWT, `--auth ${label}: Authorization is ${form === 'bearer' ? '"Bearer " and ' : ''}the token alone`);
    t.equal(decodeJwt(sent.replace(/^Bearer /, '')).token_use, use);
  }
  // Refused: the other kind of token, and the right one without the "Bearer " the API wants.
  const refused: [string, 'id' | 'access', 'bare' | 'bearer', string[]][] = [
    ['access-token', 'id', 'bare', []],
    ['id-token', 'access', 'bare', []],
    ['access-token', 'access', 'bearer', []],
    ['access-token --bearer', 'access', 'bare', ['--bearer']],
  ];
  for (const [label, use, form, extra] of refused) {
    expectToken(use, form);
    const run = await runCli(['request', '--auth', label.split(' ')[0] as string, ...extra, me], be.env);
    t.equal(run.code, 22, `--auth ${label} where the API wants a ${form} ${use} token: refused, exit 22`);
    t.same(JSON.parse(run.stdout), { message: 'token refused' }, 'the refusal\'s body still printed');
    t.match(verifier.requests.at(-1), { outcome: 'refused', path: '/prod/me' });
  }

  // request signed with SigV4, credentials from Cognito in-process.
  const signed = await runCli(['request', ...sigv4, '-X', 'PUT', '-H', 'Content-Type: application/json', '-H', 'X-Custom: one', '-d', '{"name":"x y"}', api], be.env);
  t.equal(signed.code, 0, signed.stderr);
  t.match(JSON.parse(signed.stdout), { ok: true, auth: 'sigv4', body: '{"name":"x y"}' });
  const accepted = verifier.requests.at(-1);
  t.match(accepted, { outcome: 'ok', method: 'PUT' });
  t.ok(be.stack.emulator.issued.has(accepted?.accessKeyId as string), 'signed with credentials the identity pool issued');
  t.match(accepted?.headers['authorization'], /SignedHeaders=[^,]*content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-custom/);

  // A request altered on the way is refused: exit 22, the body still printed.
  verifier.tamper = (r) => void (r.body = Buffer.concat([r.body, Buffer.from(' ')]));
  const tampered = await runCli(['request', ...sigv4, '-d', 'a=1', '-v', api], be.env);
  verifier.tamper = (r) => void (r.path = r.path.replace('a=1', 'a=2'));
  const tamperedQuery = await runCli(['request', ...sigv4, api], be.env);
  verifier.tamper = undefined;
  t.equal(tampered.code, 22, 'HTTP 403: exit 22 as curl --fail-with-body');
  t.match(tampered.stdout, /payload hash mismatch|SignatureDoesNotMatch/);
  t.match(tampered.stderr, /^< HTTP\/1\.1 403 Forbidden\n< content-type: application\/json/im, '-v: status and headers on stderr');
  t.notMatch(tampered.stderr, /AWS4-HMAC|Signature=|X-Amz-Security-Token/i, '-v never shows the request\'s signature or token');
  t.match(tamperedQuery, { code: 22, stdout: /SignatureDoesNotMatch/ });

  // Usage errors.
  t.match(await runCli(['request', `${verifier.url}/x`], be.env), { code: 2, stderr: /names no AWS service and region.*--service/ });
  t.match(await runCli(['request', '-H', 'Authorization: x', ...sigv4, `${verifier.url}/x`], be.env), { code: 2, stderr: /--auth sets it/ });
  t.match(await runCli(['request', ...sigv4, 'http://127.0.0.1:1/x'], be.env), { code: 1, stderr: /no response from http:\/\/127\.0\.0\.1:1: ECONNREFUSED.*BRK_ERR_REQUEST_FAILED/ });

  // The in-process commands' GetId left the IdentityId with the session in the keychain.
  const kept = JSON.parse((await runCli(['status', '--json'], be.env)).stdout) as StatusJson;
  const keptId = kept.profiles[0]?.identityId as string;
  t.match(keptId, /^us-east-1:/, 'status without the daemon shows the IdentityId kept in the keychain');
  t.equal(keptId, [...be.stack.emulator.identities().keys()].at(-1), 'the identity pool\'s IdentityId for this user');
  const getIdsBefore = be.stack.emulator.calls.GetId;

  // With the daemon.
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const status = await waitFor('ready', () => runCli(['status', '--json'], be.env), (r) => r.code === 0);
  const live = JSON.parse(status.stdout) as StatusJson;
  t.equal(be.stack.emulator.calls.GetId, getIdsBefore, 'serve made no GetId: it used the kept IdentityId');
  t.equal(live.profiles[0]?.identityId, keptId);
  t.match(live, { daemon: { running: true, url: /^http:\/\/127\.0\.0\.1:\d+$/, pid: serve.child.pid }, defaultProfile: 'default' });
  t.same(Object.keys(live.profiles[0] ?? {}), STATUS_KEYS);
  t.match(live.profiles[0], {
    state: 'ready', signedIn: true, user: be.stack.username, identityId: /^us-east-1:/, lastError: null,
    idTokenExpiresAt: /Z$/, credentialsExpireAt: /Z$/, lastRefreshAt: /Z$/, upstreamCalls: { refresh: 1, getId: 0, getCredentials: 1 },
  });
  const table = await runCli(['status', '--table'], be.env);
  t.match(table.stdout, /^Daemon: pid \d+ at http:\/\/127\.0\.0\.1:\d+\n\nPROFILE\s+STATE\s+USER\s+ID TOKEN\s+CREDENTIALS\s+LAST REFRESH\s+CALLS.*\ndefault \*\s+ready\s+test-user\s+in \d+m\s+in \d+m\s+\d+s ago\s+1\/0\/1\n/);
  t.match(table.stdout, /IdentityId us-east-1:/);
  const ttyLive = await statusOnTerminal(be.env);
  t.equal(ttyLive.exit, 0, ttyLive.output);
  t.match(ttyLive.output, /^Daemon: pid \d+ at http:\/\/127\.0\.0\.1:\d+\n\nPROFILE\s+STATE\s+USER\s+ID TOKEN\s+CREDENTIALS\s+LAST REFRESH\s+CALLS.*\ndefault \*\s+ready\s+test-user\s+in \d+m\s+in \d+m/, 'bare status on a terminal: the table');
  t.notMatch(ttyLive.output, /[{}"]/, 'no JSON on a terminal');
  const pipedLive = await runCli(['status'], be.env);
  t.equal(pipedLive.code, 0, pipedLive.stderr);
  t.same(Object.keys((JSON.parse(pipedLive.stdout) as StatusJson).profiles[0] ?? {}), STATUS_KEYS, 'bare status through a pipe: the JSON');

  const tokenUrl = (serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace(/\/credentials$/, '/token');
  const auth = { authorization: serve.master() };
  const served = (await (await fetch(tokenUrl, { headers: auth })).json()) as { IdToken: string; AccessToken: string };
  const fromDaemon = await runCli(['token'], be.env);
  t.equal(fromDaemon.stdout, `${served.IdToken}\n`, 'token: the daemon\'s ID token');
  const accessFromDaemon = await runCli(['token', '--access'], be.env);
  t.equal(accessFromDaemon.code, 0, accessFromDaemon.stderr);
  t.equal(accessFromDaemon.stdout, `${served.AccessToken}\n`, 'token --access: the daemon\'s access token');
  t.not(served.AccessToken, served.IdToken);
  const creds = (await (await fetch(tokenUrl.replace(/\/token$/, '/credentials'), { headers: auth })).json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
  const callsBefore = be.stack.emulator.calls.GetCredentialsForIdentity;
  const viaDaemon = await runCli(['request', ...sigv4, api], be.env);
  t.equal(viaDaemon.code, 0, viaDaemon.stderr);
  t.equal(verifier.requests.at(-1)?.accessKeyId, creds.AccessKeyId, 'signed with the daemon\'s credentials');
  t.equal(be.stack.emulator.calls.GetCredentialsForIdentity, callsBefore, 'no Cognito call of its own');

  // /status: authenticated, no secrets.
  const statusUrl = tokenUrl.replace(/\/token$/, '/status');
  t.equal((await fetch(statusUrl)).status, 401, 'GET /status needs the token');
  const statusBody = await (await fetch(statusUrl, { headers: auth })).text();
  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const { refreshToken } = JSON.parse((await keychain.get('profile:default')) as string) as { refreshToken: string };
  await keychain.stop();
  t.ok(refreshToken.length >= 16, 'the refresh token, read from the keychain to search for');
  const secrets: Record<string, string> = {
    'refresh token': refreshToken, 'ID token': served.IdToken, 'access token': served.AccessToken, 'secret key': creds.SecretAccessKey,
    'session token': creds.Token, 'access key id': creds.AccessKeyId, 'endpoint token': auth.authorization, password: be.stack.password,
  };
  const outputs: Record<string, string> = {
    'GET /status': statusBody, 'status --json': status.stdout, 'status --table': table.stdout, 'status on a terminal': ttyLive.output,
    'status piped': pipedLive.stdout, 'request via the daemon': viaDaemon.stdout + viaDaemon.stderr, 'request -v': tampered.stderr,
    'token stderr': idToken.stderr + access.stderr + fromDaemon.stderr + accessFromDaemon.stderr,
    ...Object.fromEntries(Object.entries(tokenRuns).map(([label, run]) => [`request --auth ${label} stderr`, run.stderr])),
    'daemon log': serve.stderr(),
  };
  for (const [where, output] of Object.entries(outputs)) {
    t.same(Object.keys(secrets).filter((what) => output.includes(secrets[what] as string)), [], `no secret in ${where}`);
  }

  // Secrets never in argv: the running CLI's /proc/PID/cmdline while it waits for a slow body on stdin.
  const slow = spawnCli(['request', ...sigv4, '-d', '@-', api], be.env);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const cmdline = readFileSync(`/proc/${slow.pid}/cmdline`, 'utf8');
  slow.stdin?.end('late body');
  await new Promise((resolve) => slow.once('exit', resolve));
  t.same(Object.keys(secrets).filter((what) => cmdline.includes(secrets[what] as string)), [], 'no secret in argv');
  t.ok(cmdline.includes('request'), `read the right process: ${cmdline.replaceAll('\0', ' ')}`);
  t.match(verifier.requests.at(-1), { outcome: 'ok', body: 'late body' }, '-d @-: the body from stdin');
  t.equal(TEST_KEYCHAIN_SERVICE, be.env.COGNITO_BROKER_KEYCHAIN_SERVICE);
  t.equal(await serve.stop(), 0);

  // A kept IdentityId the identity pool deleted: GetId once more, and the keychain follows.
  be.stack.emulator.deleteIdentities([keptId]);
  const getIds = be.stack.emulator.calls.GetId;
  const afterDelete = await runCli(['credential-process'], be.env);
  t.equal(afterDelete.code, 0, afterDelete.stderr);
  t.equal(be.stack.emulator.calls.GetId, getIds + 1, 'one GetId for the deleted identity');
  const renewed = (JSON.parse((await runCli(['status', '--json'], be.env)).stdout) as StatusJson).profiles[0]?.identityId;
  t.match(renewed, /^us-east-1:/);
  t.not(renewed, keptId, 'the new IdentityId is kept in its place');
});

/** Bare `status` on a real pseudo-terminal: what a person at a terminal sees. */
async function statusOnTerminal(env: NodeJS.ProcessEnv): Promise<{ exit: number | null; output: string }> {
  const result = await onTerminal([process.execPath, MAIN, 'status'], { ...env, NODE_NO_WARNINGS: '1' }, []);
  // The terminal ends lines with CR LF.
  return { exit: result.exit, output: result.output.replaceAll('\r\n', '\n') };
}
