/**
 * `login --browser` with a real browser: the compiled CLI opens the launcher page through the
 * `open` package and xdg-open, which start Debian's headless Chromium on its path; Chromium
 * follows it to the one-time start URL, signs in on cognito-local's managed login, and comes
 * back with the cookie. cognito-local is reached as "localhost" while the redirect goes to
 * 127.0.0.1: two sites, so the way back is a cross-site redirect, and only a SameSite=Lax
 * cookie makes it (Strict would not be sent). Meanwhile another process watches every
 * process's argv and environment, and forges the redirect.
 */
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import t from 'tap';
import { freePort } from '../../testkit/ports.js';
import { allowCodeFlow, writeProfiles } from '../support/browser-login.js';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { spawnCli } from '../support/cli.js';
import { browserCommand, chromiumOrFailInCI, startProcWatcher } from '../support/real-browser.js';
import { startKeychainWorker } from '../support/secret-service.js';

const missing = chromiumOrFailInCI((message) => t.fail(message));
/** Chromium's first start with a fresh profile takes a few seconds on a loaded 2-core machine. */
const STEP_TIMEOUT_MS = 60_000;

/** Env for the CLI: no desktop, so xdg-open takes $BROWSER (as on a server or in CI). */
function withoutDesktop(env: NodeJS.ProcessEnv, extra: Record<string, string>): NodeJS.ProcessEnv {
  const { DISPLAY: _d, WAYLAND_DISPLAY: _w, XDG_CURRENT_DESKTOP: _x, DESKTOP_SESSION: _s, ...rest } = env;
  return { ...rest, ...extra };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('login --browser in a real Chromium, opened on the launcher file; a watcher of every argv finds nothing usable, a forged redirect is refused', { skip: missing ?? false }, async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const { stack } = be;
  const port = await freePort();
  await allowCodeFlow(stack, `http://127.0.0.1:${port}/callback`);
  const providerUrl = stack.cognitoIdpUrl.replace('127.0.0.1', 'localhost');
  writeProfiles(be, { default: { ...stack.profile, hostedUi: { domain: providerUrl, redirectPort: port } } });

  const watcher = await startProcWatcher();
  let watched: string[] | undefined;
  const stopWatching = async () => (watched ??= await watcher.stop());
  t.teardown(stopWatching);
  const command = browserCommand({ start: true });
  t.teardown(() => command.stop());

  // A client secret given for this login (cognito-local does not check it): not passed on to the browser.
  const clientSecret = 'client-secret-for-this-login-only-0123456789';
  const child = spawnCli(['login', '--browser'], withoutDesktop(be.env, { ...command.env, COGNITO_BROKER_CLIENT_SECRET: clientSecret }));
  child.stdin?.end();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));

  const opened = await until('xdg-open to start the browser', () => command.opened());
  t.equal(opened.argv.length, 1, 'the browser was given one argument');
  const launcher = opened.argv[0] as string;
  t.match(launcher, /\/cognito-broker\/login-[^/]+\/sign-in\.html$/, 'the launcher file\'s path');
  t.match(stderr, /Opening the browser to sign in to profile "default"/);
  const startUrl = /^ {2}(http:\/\/\S+)$/m.exec(stderr)?.[1] as string;
  t.match(startUrl, new RegExp(`^http://127\\.0\\.0\\.1:${port}/start\\?key=[\\w-]{43}$`), 'and the start URL on the terminal');

  const { browser, page } = await command.attach();
  // The launcher sent Chromium to the start URL, which sent it to the sign-in form.
  await page.waitForSelector('input[name="password"]', { timeout: STEP_TIMEOUT_MS });
  const authorization = new URL(page.url());
  t.equal(`${authorization.origin}${authorization.pathname}`, `${providerUrl}/oauth2/authorize`, 'Chromium is on the managed login page');
  const state = authorization.searchParams.get('state') as string;
  const challenge = authorization.searchParams.get('code_challenge') as string;
  const context = browser.contexts()[0];
  const [cookie] = (await context?.cookies(`http://127.0.0.1:${port}/callback`)) ?? [];
  t.match(cookie, { name: `cognito-broker-login-${port}`, domain: '127.0.0.1', path: '/callback', httpOnly: true, sameSite: 'Lax' }, 'the start URL set an HttpOnly, SameSite=Lax cookie');
  await until('the launcher to be removed once used', () => (existsSync(dirname(launcher)) ? undefined : true), 5_000);
  t.pass('the launcher (and its directory) is gone once the start URL was used');

  // Another local user who learnt the state (they cannot: it is in no argv) still cannot
  // answer in the browser's place, nor end the login; the start URL does not work twice.
  const forged = await fetch(`http://127.0.0.1:${port}/callback?code=forged&state=${state}`);
  t.equal(forged.status, 403, 'a forged redirect with the right state and no cookie is refused');
  const aborted = await fetch(`http://127.0.0.1:${port}/callback?error=access_denied&state=${state}`);
  t.equal(aborted.status, 403, 'so is a forged error');
  const reused = await fetch(startUrl, { redirect: 'manual' });
  t.equal(reused.status, 409, 'a second use of the start URL is refused');

  const back = page.waitForRequest((request) => request.url().startsWith(`http://127.0.0.1:${port}/callback?`), { timeout: STEP_TIMEOUT_MS });
  await page.fill('input[name="username"]', stack.username);
  await page.fill('input[name="password"]', stack.password);
  await page.click('button[type="submit"]');
  const callback = await back;
  const headers = await callback.allHeaders();
  t.equal(headers['sec-fetch-site'], 'cross-site', 'the redirect back from the provider is cross-site');
  t.equal(headers.cookie, `${cookie?.name}=${cookie?.value}`, 'and Chromium sent the Lax cookie with it');
  const code = new URL(callback.url()).searchParams.get('code') as string;
  await page.waitForSelector('text=cognito-broker is signed in', { timeout: STEP_TIMEOUT_MS });

  const [exit] = (await exited) as [number | null];
  t.equal(exit, 0, `login exits 0: ${stderr}`);
  t.match(stderr, /without the cookie of the browser that opened the sign-in link was refused; still waiting/);
  t.match(stderr, /one-time sign-in link was opened a second time and refused/);
  t.match(stderr, /Signed in as test-user \(profile "default"\) through the managed login/);
  t.same(await context?.cookies(`http://127.0.0.1:${port}/callback`), [], 'the last page made Chromium forget the cookie');

  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  const stored = JSON.parse((await keychain.get('profile:default')) as string) as { method: string; refreshToken: string };
  await keychain.stop();
  t.equal(stored.method, 'browser', 'the CLI is signed in');

  const seen = await stopWatching();
  t.ok(seen.some((line) => line.startsWith('cmdline ') && line.includes(launcher)), 'the watcher saw the opener\'s argv (the launcher path): it was watching');
  // Between fork and exec a child is, to /proc, a copy of the login with its environment:
  // what counts is what a process has once it runs a program of its own.
  const loginArgv = seen.find((line) => line.startsWith(`cmdline ${child.pid} `))?.slice(`cmdline ${child.pid} `.length);
  const ownEnviron = (line: string) => line.startsWith(`environ ${child.pid} `) || (loginArgv !== undefined && line.includes(` [${loginArgv}] `));
  t.ok(seen.some((line) => line.startsWith(`environ ${child.pid} `) && line.includes(clientSecret)), 'the watcher read the login\'s own environment, with the client secret it was given');
  const inherited = seen.filter((line) => line.startsWith('environ ') && !ownEnviron(line) && line.includes(clientSecret));
  t.same(inherited.map((line) => line.slice(0, line.indexOf('] ') + 1)), [], 'which no other process (opener, browser) inherited');
  const secrets = { state, 'code challenge': challenge, 'start key': new URL(startUrl).searchParams.get('key') as string, cookie: cookie?.value as string, code, 'refresh token': stored.refreshToken };
  for (const [what, secret] of Object.entries(secrets)) {
    t.ok(secret.length >= 20, `the test knows the ${what}`);
    t.notOk(seen.some((line) => line.includes(secret)), `no ${what} in any process's argv or environment`);
  }
});

t.test('Ctrl-C while the login waits removes the launcher; its argv held only the path', { skip: process.platform === 'linux' ? false : 'xdg-open and signals: Linux' }, async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const { stack } = be;
  const port = await freePort();
  writeProfiles(be, { default: { ...stack.profile, hostedUi: { domain: stack.cognitoIdpUrl, redirectPort: port } } });
  const command = browserCommand({ start: false });
  t.teardown(() => command.stop());

  const child = spawnCli(['login', '--browser'], withoutDesktop(be.env, command.env));
  child.stdin?.end();
  const exited = once(child, 'exit');
  const opened = await until('xdg-open to run the browser command', () => command.opened());
  const launcher = opened.argv[0] as string;
  t.same(opened.argv, [launcher], 'only the launcher path');
  t.equal(statSync(launcher).mode & 0o777, 0o600, 'the launcher is 0600');
  t.equal(statSync(dirname(launcher)).mode & 0o777, 0o700, 'in a 0700 directory');
  t.ok(launcher.startsWith(`${be.secretService.env.XDG_RUNTIME_DIR}/cognito-broker/`), 'under $XDG_RUNTIME_DIR');

  child.kill('SIGINT');
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  t.same([code, signal], [null, 'SIGINT'], 'login ends as Ctrl-C ends it');
  t.notOk(existsSync(dirname(launcher)), 'and the launcher is gone');
  const listening = await fetch(`http://127.0.0.1:${port}/callback`).then(() => true, () => false);
  t.notOk(listening, 'nothing listens any more');
});

