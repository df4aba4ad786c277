/**
 * A browser, as far as the authorization code flow needs one: GET the authorization URL,
 * fill in the sign-in form the page holds (cognito-local's and the user-pool emulator's
 * managed login are plain HTML forms), POST it as a browser would, and follow the redirect
 * to wherever it points (the CLI's loopback listener).
 */
import type { ChildProcess } from 'node:child_process';

export interface BrowserVisit {
  /** The status of the last page (the loopback listener's answer, after the redirect). */
  readonly status: number;
  readonly body: string;
  /** Where the provider redirected to, with code and state. */
  readonly redirectedTo?: string | undefined;
}

export async function signInWithForm(authorizationUrl: string, username: string, password: string): Promise<BrowserVisit> {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`the authorization page answered ${page.status}: ${html.slice(0, 300)}`);
  const form = parseForm(html, authorizationUrl);
  form.fields.set('username', username);
  form.fields.set('password', password);
  const posted = await fetch(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.fields.toString(),
    redirect: 'manual',
  });
  const location = posted.headers.get('location');
  if (posted.status !== 302 && posted.status !== 303) throw new Error(`the sign-in form answered ${posted.status}: ${(await posted.text()).slice(0, 300)}`);
  if (!location) throw new Error('the sign-in form redirected nowhere');
  const target = new URL(location, form.action).toString();
  const landed = await fetch(target, { redirect: 'manual' });
  return { status: landed.status, body: await landed.text(), redirectedTo: target };
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

/** Waits until `login --no-browser` has printed the URL to open, and returns it. */
export async function authorizationUrlFrom(child: ChildProcess, timeoutMs = 20_000): Promise<{ url: string; stderr: () => string }> {
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
