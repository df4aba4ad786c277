/**
 * A browser, as far as the authorization code flow needs one: open the login's one-time
 * start URL and keep the cookie it sets, GET the authorization URL it redirects to, fill in
 * the sign-in form the page holds (cognito-local's and the user-pool emulator's managed
 * login are plain HTML forms), POST it as a browser would, and follow the redirect to
 * wherever it points (the CLI's loopback listener), sending the cookie back.
 */
import type { ChildProcess } from 'node:child_process';

export interface BrowserVisit {
  /** The status of the last page (the loopback listener's answer, after the redirect). */
  readonly status: number;
  readonly body: string;
  /** Where the start URL sent the browser: the authorization request, with state and code_challenge. */
  readonly authorizationUrl?: string | undefined;
  /** Where the provider redirected to, with code and state. */
  readonly redirectedTo?: string | undefined;
}

interface Cookie {
  readonly host: string;
  readonly path: string;
  readonly value: string;
}

/**
 * Cookies as browsers keep them for what is tested here: per host name (not port, RFC 6265
 * section 8.5), sent where the request path is within the cookie's Path, deleted by Max-Age=0.
 * No SameSite: a form-posting client cannot show it (the real-browser test does).
 */
export class FakeBrowser {
  readonly #cookies = new Map<string, Cookie>();

  /** Opens the start URL: keeps its cookie, returns where it redirects (the authorization URL). */
  async start(startUrl: string): Promise<string> {
    const response = await this.fetch(startUrl);
    const location = response.headers.get('location');
    if (response.status !== 302 || !location) throw new Error(`the start URL answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    return new URL(location, startUrl).toString();
  }

  /** The sign-in form at the authorization URL, then the redirect back. */
  async signIn(authorizationUrl: string, username: string, password: string): Promise<BrowserVisit> {
    const page = await this.fetch(authorizationUrl);
    const html = await page.text();
    if (page.status !== 200) throw new Error(`the authorization page answered ${page.status}: ${html.slice(0, 300)}`);
    const form = parseForm(html, authorizationUrl);
    form.fields.set('username', username);
    form.fields.set('password', password);
    const posted = await this.fetch(form.action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.fields.toString() });
    const location = posted.headers.get('location');
    if (posted.status !== 302 && posted.status !== 303) throw new Error(`the sign-in form answered ${posted.status}: ${(await posted.text()).slice(0, 300)}`);
    if (!location) throw new Error('the sign-in form redirected nowhere');
    const target = new URL(location, form.action).toString();
    const landed = await this.fetch(target);
    return { status: landed.status, body: await landed.text(), authorizationUrl, redirectedTo: target };
  }

  /** One request, redirects not followed, with this browser's cookies, keeping the ones it sets. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = this.cookieHeader(url);
    const headers = new Headers(init.headers);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) this.#keep(url, line);
    return response;
  }

  cookieHeader(url: string): string {
    const { hostname, pathname } = new URL(url);
    return [...this.#cookies.entries()]
      .filter(([, c]) => c.host === hostname && (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .map(([key, c]) => `${key.split('\n')[1]}=${c.value}`)
      .join('; ');
  }

  #keep(url: string, line: string): void {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const at = pair.indexOf('=');
    const name = pair.slice(0, at);
    const attribute = (wanted: string) => attributes.find((a) => a.toLowerCase().startsWith(`${wanted.toLowerCase()}=`))?.split('=')[1];
    const { hostname } = new URL(url);
    const path = attribute('Path') ?? '/';
    const key = `${hostname} ${path}\n${name}`;
    if (attribute('Max-Age') === '0') this.#cookies.delete(key);
    else this.#cookies.set(key, { host: hostname, path, value: pair.slice(at + 1) });
  }
}

/** The whole sign-in in a new browser: the start URL, the form, the redirect back. */
export async function signInWithForm(startUrl: string, username: string, password: string): Promise<BrowserVisit> {
  const browser = new FakeBrowser();
  return browser.signIn(await browser.start(startUrl), username, password);
}

/** The form's action (resolved against the page) and its inputs' names and values. */
export function parseForm(html: string, pageUrl: string): { action: string; fields: URLSearchParams } {
  const action = /<form[^>]*action="([^"]*)"/i.exec(html)?.[1];
  if (action === undefined) throw new Error(`no form on the page: ${html.slice(0, 300)}`);
  const fields = new URLSearchParams();
  for (const input of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(input[0])?.[1];
    const value = /\bvalue="([^"]*)"/i.exec(input[0])?.[1] ?? '';
    if (name) fields.set(name, decodeEntities(value));
  }
  return { action: new URL(decodeEntities(action), pageUrl).toString(), fields };
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCharCode(parseInt(code, 16)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Waits until `login --no-browser` has printed the one-time start URL to open, and returns it. */
export async function startUrlFrom(child: ChildProcess, timeoutMs = 20_000): Promise<{ url: string; stderr: () => string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const url = /^ {2}(https?:\/\/\S+)$/m.exec(stderr)?.[1];
    if (url) return { url, stderr: () => stderr };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`login printed no URL (exit ${child.exitCode}): ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
