/**
 * `login --browser --remote`, for a browser that cannot reach this machine's 127.0.0.1 (SSH,
 * WSL, a container): login prints the authorization URL; a browser (a real HTTP client
 * playing one, with cognito-local's managed login) signs in and is sent to the loopback
 * redirect, which it does not load; the address it ended on is pasted back, on standard
 * input or at a terminal. The same state and PKCE checks as the loopback flow.
 */
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import type { LocalStack } from '../../testkit/local-stack.js';
import { freePort } from '../../testkit/ports.js';
import { allowCodeFlow, writeProfiles } from '../support/browser-login.js';
import { type BrokerEnv, requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { CLI_BIN as MAIN, runCli, spawnCli } from '../support/cli.js';
import { FakeBrowser, parseForm, startUrlFrom } from '../support/fake-browser.js';
import { startTerminal } from '../support/pty-session.js';


/**
 * A browser on another machine: the authorization URL, the sign-in form, and the redirect
 * it is sent to, returned rather than loaded (nothing listens there).
 */
async function signInElsewhere(authorizationUrl: string, stack: LocalStack): Promise<string> {
  const browser = new FakeBrowser();
  const page = await browser.fetch(authorizationUrl);
  const form = parseForm(await page.text(), authorizationUrl);
  form.fields.set('username', 'test-user');
  form.fields.set('password', stack.password);
  const posted = await browser.fetch(form.action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.fields.toString() });
  const location = posted.headers.get('location');
  if (posted.status !== 302 && posted.status !== 303 || !location) throw new Error(`the sign-in form answered ${posted.status}`);
  return new URL(location, form.action).toString();
}

async function setUp(t: Test): Promise<{ be: BrokerEnv; port: number; redirectUri: string }> {
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  await allowCodeFlow(be.stack, redirectUri);
  writeProfiles(be, { default: { ...be.stack.profile, hostedUi: { domain: be.stack.cognitoIdpUrl, redirectPort: port } } });
  return { be, port, redirectUri };
}

async function until(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function collectStdout(child: ChildProcess): () => string {
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  return () => stdout;
}

t.test('--remote on standard input: a pasted address with a wrong state is refused and asked again, the right one signs in', async (t) => {
  if (!requireSecretService(t)) return;
  const { be, port, redirectUri } = await setUp(t);
  const child = spawnCli(['login', '--browser', '--remote'], be.env);
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  collectStdout(child);
  const exited = once(child, 'exit');
  const { url, stderr } = await startUrlFrom(child);
  const authorization = new URL(url);
  t.equal(`${authorization.origin}${authorization.pathname}`, `${be.stack.cognitoIdpUrl}/oauth2/authorize`, 'login printed the authorization URL itself (no start URL)');
  t.same([authorization.searchParams.get('redirect_uri'), authorization.searchParams.get('code_challenge_method')], [redirectUri, 'S256'], 'with the registered loopback redirect and PKCE');
  t.match(stderr(), new RegExp(`the browser goes to http://127\\.0\\.0\\.1:${port}/callback\\?code=\\.\\.\\. and shows an error[\\s\\S]*paste it here, within 5 min`));
  t.notMatch(stderr(), /SSH|WSL|no display/, 'chosen by the flag, not guessed');
  t.equal(await fetch(redirectUri).then(() => 'open', () => 'closed'), 'closed', 'nothing listens on the redirect port');

  const landed = await signInElsewhere(url, be.stack);
  const state = authorization.searchParams.get('state') as string;
  t.ok(landed.startsWith(`${redirectUri}?`) && new URL(landed).searchParams.get('state') === state, 'the provider sent the browser to the loopback redirect with our state');

  child.stdin?.write(`${landed.replace(state, 'an-earlier-login')}\n`);
  await until('the refusal', () => /that address was refused/.test(stderr()));
  t.match(stderr(), /that address was refused: its "state" is missing or belongs to another login.*Paste the address again/);
  t.equal(child.exitCode, null, 'still waiting');
  child.stdin?.write(`${landed}\n`);
  const [code] = (await exited) as [number | null];
  t.equal(code, 0, stderr());
  t.match(stderr(), /Signed in as test-user \(profile "default"\) through the managed login/);
  const code_ = new URL(landed).searchParams.get('code') as string;
  t.notOk(stderr().includes(code_), 'the code is not repeated on the terminal');

  const credentials = await runCli(['credential-process'], be.env);
  t.equal(credentials.code, 0, credentials.stderr);
  t.ok(be.stack.emulator.issued.has((JSON.parse(credentials.stdout) as { AccessKeyId: string }).AccessKeyId), 'the session gets credentials from the identity pool');
});

t.test('--remote: a pasted error from the provider ends the login with its words; input that ends is an error too', async (t) => {
  if (!requireSecretService(t)) return;
  const { be, redirectUri } = await setUp(t);
  const child = spawnCli(['login', '--remote'], be.env);
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  const exited = once(child, 'exit');
  const { url, stderr } = await startUrlFrom(child);
  const state = new URL(url).searchParams.get('state') as string;
  child.stdin?.end(`${redirectUri}?error=access_denied&error_description=The%20user%20cancelled&state=${state}\n`);
  const [code] = (await exited) as [number | null];
  t.equal(code, 1);
  t.match(stderr(), /The sign-in in the browser was refused \(access_denied: The user cancelled\)\. \[BRK_ERR_SIGN_IN_FAILED\]/);

  const empty = await runCli(['login', '--browser', '--remote'], be.env, '');
  t.equal(empty.code, 1);
  t.match(empty.stderr, /No address was pasted: the input ended.*\[BRK_ERR_SIGN_IN_FAILED\]/s);
  const both = await runCli(['login', '--browser', '--remote', '--no-remote'], be.env);
  t.equal(both.code, 2, '--remote with --no-remote is a usage error');
});

t.test('in an SSH session login --browser chooses the pasted address on its own, says so, and reads it at the terminal', async (t) => {
  if (!requireSecretService(t)) return;
  const { be, port } = await setUp(t);
  // A display too (X forwarding): the SSH session is what decides.
  const env = { ...be.env, SSH_CONNECTION: '192.0.2.10 50122 192.0.2.1 22', DISPLAY: 'localhost:10.0', NODE_NO_WARNINGS: '1' };
  const terminal = startTerminal([process.execPath, MAIN, 'login', '--browser'], env);
  await terminal.waitFor(new RegExp(`this is an SSH session \\(SSH_CONNECTION is set\\), so a browser may not reach 127\\.0\\.0\\.1:${port} here[\\s\\S]*--no-remote`));
  const [, url] = await terminal.waitFor(/^ {2}(https?:\/\/\S+)\r?$/m);
  await terminal.waitFor(/Address the browser ended on:/);
  const landed = await signInElsewhere(url as string, be.stack);
  // Pasted as one long line, as a terminal pastes.
  terminal.type(`${landed}\r`);
  t.equal(await terminal.exit(), 0, terminal.output());
  t.match(terminal.output(), /Signed in as test-user \(profile "default"\) through the managed login/);

  const loopback = await runCli(['login', '--browser', '--no-remote', '--no-browser', '--timeout', '1'], { ...env });
  t.match(loopback.stderr, /open this URL in a browser on this machine[\s\S]*BRK_ERR_BROWSER_LOGIN_TIMEOUT/, '--no-remote waits on 127.0.0.1 even in an SSH session');
  t.notMatch(loopback.stderr, /SSH session/);
});
