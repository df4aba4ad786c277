import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { BrowserLauncher, launcherBaseDir, launcherPage, type Opener } from '../../src/cli/browser-launcher.js';
import { signInWithBrowser } from '../../src/cognito/browser-sign-in.js';
import type { SignInTokens } from '../../src/cognito/types.js';
import { freePort } from '../../testkit/ports.js';

const TOKENS: SignInTokens = { idToken: 'id', accessToken: 'access', refreshToken: 'refresh', expiresAt: 2, issuedAt: 1 };
const posix = process.platform !== 'win32';
const mode = (path: string) => statSync(path).mode & 0o777;

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'cb-launcher-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'base');
}

function capture() {
  let stderr = '';
  return { io: { stdout: () => undefined, stderr: (s: string) => void (stderr += s) }, stderr: () => stderr };
}

/** What a browser does with the launcher page: read it and follow its refresh to the start URL. */
function startUrlIn(file: string): string {
  const html = readFileSync(file, 'utf8');
  const url = /http-equiv="refresh" content="0; url=([^"]+)"/.exec(html)?.[1];
  if (!url) throw new Error(`no refresh in the launcher: ${html}`);
  return url.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
}

/** The start URL, then the provider's redirect back with our state and the cookie: what the user's browser does. */
async function finishInBrowser(startUrl: string, redirectUri: string, afterStart?: () => Promise<void>): Promise<{ state: string; challenge: string; cookie: string }> {
  const started = await fetch(startUrl, { redirect: 'manual' });
  await afterStart?.();
  const authorization = new URL(started.headers.get('location') as string);
  const cookie = (started.headers.getSetCookie()[0] ?? '').split(';')[0] as string;
  const state = authorization.searchParams.get('state') as string;
  const back = await fetch(`${redirectUri}?code=c&state=${state}`, { headers: { cookie } });
  if (back.status !== 200) throw new Error(`the redirect back answered ${back.status}`);
  return { state, challenge: authorization.searchParams.get('code_challenge') as string, cookie };
}

async function login(launcher: BrowserLauncher, port: number, timeoutMs = 30_000): Promise<SignInTokens> {
  return signInWithBrowser({
    authorizationEndpoint: 'https://idp.example.com/authorize',
    clientId: 'c',
    redirect: { port, path: '/callback' },
    scopes: ['openid'],
    exchange: async () => TOKENS,
    timeoutMs,
    onStartUrl: (startUrl, redirectUri) => launcher.handOut(startUrl, redirectUri),
    onStarted: () => void launcher.remove(),
  }).finally(() => launcher.remove());
}

t.test('the opener gets only the launcher\'s path: no state, challenge, start key or cookie in its argv; the launcher is 0600 in a 0700 directory and goes once used', async (t) => {
  const baseDir = scratch(t);
  const port = await freePort();
  const out = capture();
  const given: string[][] = [];
  let seen: { state: string; challenge: string; cookie: string; startUrl: string; fileMode: number; dirMode: number; goneAfterStart: boolean } | undefined;
  let browser: Promise<void> | undefined;
  const opener: Opener = async (...args) => {
    given.push(args.filter((a): a is string => typeof a === 'string'));
    const file = args[0];
    browser = (async () => {
      const startUrl = startUrlIn(file);
      const fileMode = mode(file);
      const dirMode = mode(dirname(file));
      let goneAfterStart = false;
      const finished = await finishInBrowser(startUrl, `http://127.0.0.1:${port}/callback`, async () => {
        // While the browser is at the provider, the login still waiting.
        const deadline = Date.now() + 2_000;
        while (existsSync(dirname(file)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        goneAfterStart = !existsSync(dirname(file));
      });
      seen = { ...finished, startUrl, fileMode, dirMode, goneAfterStart };
    })();
  };
  const launcher = new BrowserLauncher({ io: out.io, profileName: 'work', timeoutMs: 30_000, noBrowser: false, opener, baseDir });
  t.same(await login(launcher, port), TOKENS);
  await browser;
  t.equal(given.length, 1, 'opened once');
  const [target] = given[0] as [string];
  t.match(target, new RegExp(`^${baseDir}/login-[^/]+/sign-in\\.html$`), 'a file in a fresh directory under the base');
  const startKey = new URL(seen?.startUrl as string).searchParams.get('key') as string;
  for (const [what, secret] of Object.entries({ state: seen?.state, challenge: seen?.challenge, 'start key': startKey, cookie: seen?.cookie.split('=')[1] })) {
    t.ok(secret && secret.length >= 43, `the browser saw the ${what}`);
    t.notOk(given.flat().join(' ').includes(secret as string), `no ${what} in the opener's argv`);
    if (what !== 'start key') t.notOk(out.stderr().includes(secret as string), `no ${what} on the terminal`);
  }
  t.match(out.stderr(), `\n  ${seen?.startUrl}\n`, 'the start URL is on the terminal, for a browser that cannot read the file');
  t.match(out.stderr(), /snap Firefox/);
  if (posix) {
    t.equal(seen?.fileMode, 0o600, 'the launcher is 0600');
    t.equal(seen?.dirMode, 0o700, 'in a 0700 directory');
    t.equal(mode(baseDir), 0o700, 'under a 0700 base');
  }
  t.equal(seen?.goneAfterStart, true, 'the launcher was removed once the start URL was used, before the login ended');
  t.equal(launcher.file, undefined);
  t.same(readdir(baseDir), [], 'nothing left behind');
});

t.test('the launcher is removed when the login times out, and when the opener fails the printed URL still works', async (t) => {
  const baseDir = scratch(t);
  const port = await freePort();
  let file = '';
  const waiting = new BrowserLauncher({ io: capture().io, profileName: 'p', timeoutMs: 300, noBrowser: false, opener: async (target) => void (file = target), baseDir });
  await t.rejects(login(waiting, port, 300), { name: 'BrowserLoginTimeoutError' });
  t.ok(file !== '' && !existsSync(file), 'the launcher is gone after the timeout');
  t.same(readdir(baseDir), []);

  const out = capture();
  let failed = '';
  const broken = new BrowserLauncher({
    io: out.io,
    profileName: 'p',
    timeoutMs: 30_000,
    noBrowser: false,
    opener: async (target, onFailure) => {
      failed = target;
      // As xdg-open does with no browser to start: it runs, then gives up.
      setImmediate(() => onFailure('the opener exited with status 3'));
    },
    baseDir,
  });
  const tokens = login(broken, port);
  // The user copies the URL from the terminal into a browser.
  const deadline = Date.now() + 5_000;
  while (!/no browser could be started/.test(out.stderr()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const printed = /^ {2}(http:\/\/\S+)$/m.exec(out.stderr())?.[1] as string;
  await finishInBrowser(printed, `http://127.0.0.1:${port}/callback`);
  t.same(await tokens, TOKENS);
  t.match(out.stderr(), /no browser could be started \(the opener exited with status 3\); open the URL above yourself/);
  t.notOk(existsSync(failed), 'the unused launcher is removed at the end');

  const thrower = new BrowserLauncher({ io: capture().io, profileName: 'p', timeoutMs: 300, noBrowser: false, opener: async () => Promise.reject(new Error('spawn xdg-open ENOENT')), baseDir });
  await t.rejects(login(thrower, port, 300), { name: 'BrowserLoginTimeoutError' });
  t.same(readdir(baseDir), []);
});

t.test('--no-browser: the start URL on the terminal only; no file, no opener', async (t) => {
  const baseDir = scratch(t);
  const port = await freePort();
  const out = capture();
  let opened = false;
  const launcher = new BrowserLauncher({ io: out.io, profileName: 'work', timeoutMs: 300_000, noBrowser: true, opener: async () => void (opened = true), baseDir });
  const tokens = login(launcher, port);
  const deadline = Date.now() + 5_000;
  while (!/ {2}http/.test(out.stderr()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const printed = /^ {2}(http:\/\/\S+)$/m.exec(out.stderr())?.[1] as string;
  t.match(printed, new RegExp(`^http://127\\.0\\.0\\.1:${port}/start\\?key=[\\w-]{43}$`));
  t.match(out.stderr(), /To sign in to profile "work", open this URL in a browser on this machine \(it works once/);
  t.match(out.stderr(), /Waiting up to 5 min for the browser to come back to http:\/\/127\.0\.0\.1:\d+\/callback/);
  await finishInBrowser(printed, `http://127.0.0.1:${port}/callback`);
  t.same(await tokens, TOKENS);
  t.notOk(opened);
  t.notOk(existsSync(baseDir), 'no launcher directory at all');
});

t.test('no launcher in a base directory that is not the user\'s own directory: the URL is printed, nothing is opened', { skip: !posix }, async (t) => {
  const base = scratch(t);
  mkdirSync(join(dirname(base), 'elsewhere'), { mode: 0o700 });
  symlinkSync(join(dirname(base), 'elsewhere'), base);
  const out = capture();
  let opened = false;
  const launcher = new BrowserLauncher({ io: out.io, profileName: 'p', timeoutMs: 1_000, noBrowser: false, opener: async () => void (opened = true), baseDir: base });
  await launcher.handOut('http://127.0.0.1:1/start?key=k', 'http://127.0.0.1:1/callback');
  t.notOk(opened);
  t.match(out.stderr(), /could not be written \(.* is not a directory of yours\); open the URL below yourself/);
  t.match(out.stderr(), /\n {2}http:\/\/127\.0\.0\.1:1\/start\?key=k\n/);
  t.same(readdir(join(dirname(base), 'elsewhere')), []);
});

t.test('a base directory others may read is made 0700 first', { skip: !posix }, async (t) => {
  const base = scratch(t);
  mkdirSync(base, { mode: 0o755 });
  const launcher = new BrowserLauncher({ io: capture().io, profileName: 'p', timeoutMs: 1_000, noBrowser: false, opener: async () => undefined, baseDir: base });
  await launcher.handOut('http://127.0.0.1:1/start?key=k', 'http://127.0.0.1:1/callback');
  t.equal(mode(base), 0o700);
  t.ok(launcher.file && existsSync(launcher.file));
  await launcher.remove();
  await launcher.remove();
  t.same(readdir(base), [], 'removed, and removing twice is fine');
});

t.test('where launchers go: the runtime directory on Linux, else the cache directory', async (t) => {
  t.equal(launcherBaseDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', '/home/u'), '/run/user/1000/cognito-broker');
  t.equal(launcherBaseDir({}, 'linux', '/home/u'), '/home/u/.cache/cognito-broker/sign-in');
  t.equal(launcherBaseDir({ XDG_RUNTIME_DIR: 'relative' }, 'linux', '/home/u'), '/home/u/.cache/cognito-broker/sign-in', 'a relative XDG path is ignored');
  t.equal(launcherBaseDir({ XDG_RUNTIME_DIR: '/run/user/501' }, 'darwin', '/Users/u'), '/Users/u/Library/Caches/cognito-broker/sign-in');
  t.equal(launcherBaseDir({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32', 'C:\\Users\\u'), join('C:\\Users\\u\\AppData\\Local', 'cognito-broker', 'cache', 'sign-in'));
});

t.test('the launcher page sends the browser on by a meta refresh and a link, escaped', async (t) => {
  const page = launcherPage('http://127.0.0.1:5/start?key=a"b<');
  t.match(page, /<meta http-equiv="refresh" content="0; url=http:\/\/127\.0\.0\.1:5\/start\?key=a&#34;b&#60;">/);
  t.match(page, /<a href="http:\/\/127\.0\.0\.1:5\/start\?key=a&#34;b&#60;" rel="noreferrer">/);
  t.notMatch(page, /<script/i);
});

/** The directory's entries; none when it does not exist. */
function readdir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}
