/**
 * A real browser for the browser sign-in tests: Debian's Chromium, headless, started the way
 * `login --browser` starts a browser (the `open` package runs xdg-open, which runs $BROWSER
 * with the launcher file's path when there is no desktop), and driven over the DevTools
 * protocol by playwright-core.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** What the apt package needs to run here: headless, as root (no sandbox), and never calling home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;
const INSTALL_HINT = 'apt-get install -y --no-install-recommends chromium';
const BROWSER_START_TIMEOUT_MS = 30_000;

/**
 * Why the real-browser tests cannot run, for their `skip`; in CI (which installs chromium)
 * a missing browser is a failure, as for the Secret Service tests.
 */
export function chromiumOrFailInCI(fail: (message: string) => void): string | undefined {
  const missing = process.platform !== 'linux' ? 'the real-browser tests run on Linux only' : existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (${INSTALL_HINT})`;
  const inCI = /^(?!0$|false$).+/i.test(process.env.CI ?? '');
  if (missing !== undefined && inCI && process.platform === 'linux') fail(`the real-browser tests cannot run in CI: ${missing}`);
  return missing;
}

export interface BrowserCommand {
  /** Give this as BROWSER to the login: xdg-open runs it with the launcher's path. */
  readonly env: { readonly BROWSER: string };
  /** What it was given (argv after $0) and its pid, once it ran. */
  opened(): { pid: number; argv: string[] } | undefined;
  /** Waits until the browser listens for DevTools, then attaches to its page. */
  attach(): Promise<{ browser: Browser; page: Page }>;
  /** Stops the browser it started (its process group) and removes its files. */
  stop(): Promise<void>;
}

/**
 * A $BROWSER that notes its argv and pid, then (with `start`) becomes headless Chromium on
 * what it was given, with a fresh profile and a DevTools port; without, it only notes.
 */
export function browserCommand(options: { start: boolean }): BrowserCommand {
  const dir = mkdtempSync(join(tmpdir(), 'cb-real-browser-'));
  const script = join(dir, 'browser.sh');
  const record = join(dir, 'opened');
  const profile = join(dir, 'profile');
  const chromiumLine = `exec ${CHROMIUM} ${CHROMIUM_ARGS.join(' ')} --user-data-dir=${profile} --remote-debugging-port=0 "$@"`;
  writeFileSync(
    script,
    ['#!/bin/sh', `printf '%s\\n' "$$" "$@" > ${record}.tmp && mv ${record}.tmp ${record}`, options.start ? chromiumLine : 'sleep 1', ''].join('\n'),
  );
  chmodSync(script, 0o700);
  let browser: Browser | undefined;
  const opened = () => {
    if (!existsSync(record)) return undefined;
    const [pid = '', ...argv] = readFileSync(record, 'utf8').trimEnd().split('\n');
    return { pid: Number(pid), argv };
  };
  return {
    env: { BROWSER: script },
    opened,
    async attach() {
      const portFile = join(profile, 'DevToolsActivePort');
      const deadline = Date.now() + BROWSER_START_TIMEOUT_MS;
      while (!existsSync(portFile) || !/^\d+\n/.test(readFileSync(portFile, 'utf8'))) {
        if (Date.now() > deadline) throw new Error(`Chromium opened no DevTools port within ${BROWSER_START_TIMEOUT_MS} ms (opened: ${JSON.stringify(opened())})`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const port = readFileSync(portFile, 'utf8').split('\n')[0];
      browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
      const context = browser.contexts()[0];
      const page = context?.pages()[0];
      if (!page) throw new Error('Chromium has no page open');
      return { browser, page };
    },
    async stop() {
      await browser?.close().catch(() => undefined);
      const pid = opened()?.pid;
      if (pid) await stopGroupOf(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Chromium and its helpers share the process group xdg-open started (`open` detaches it):
 * SIGTERM to that group, then SIGKILL to what is left after 5 s.
 */
async function stopGroupOf(pid: number): Promise<void> {
  const stat = (() => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
  })();
  if (stat === undefined) return;
  // Field 5 of /proc/PID/stat, after the parenthesised command name.
  const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  const target = group > 1 && group !== process.pid ? -group : pid;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(target, name);
      return true;
    } catch {
      return false;
    }
  };
  if (!signal('SIGTERM')) return;
  const deadline = Date.now() + 5_000;
  while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  signal('SIGKILL');
}

/**
 * A process that reads every /proc/PID/cmdline and /proc/PID/environ it can, every few
 * milliseconds, as another local user watching the login would (it reads environ too, which
 * another user cannot). Returns everything it saw: "cmdline PID argv" and
 * "environ PID [argv when read] environment".
 */
export interface ProcWatcher {
  stop(): Promise<string[]>;
}

const WATCHER = `
const { readdirSync, readFileSync } = require('node:fs');
const seen = new Set();
const scan = () => {
  for (const pid of readdirSync('/proc')) {
    if (!/^\\d+$/.test(pid) || pid === String(process.pid)) continue;
    const read = (file) => { try { return readFileSync('/proc/' + pid + '/' + file, 'latin1').replace(/\\0/g, ' '); } catch { return ''; } };
    // environ first, then cmdline: a cmdline still the parent's after the read means the
    // environ read was before exec too (exec is one-way), so it is tagged with that cmdline.
    const environ = read('environ');
    const cmdline = read('cmdline');
    if (cmdline) seen.add('cmdline ' + pid + ' ' + cmdline);
    if (environ) seen.add('environ ' + pid + ' [' + cmdline + '] ' + environ);
  }
};
const timer = setInterval(scan, 5);
scan();
process.stdout.write('watching\\n');
process.on('SIGTERM', () => {
  clearInterval(timer);
  scan();
  process.stdout.write(JSON.stringify([...seen]) + '\\n', () => process.exit(0));
});
`;

export async function startProcWatcher(): Promise<ProcWatcher> {
  const child: ChildProcess = spawn(process.execPath, ['-e', WATCHER], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!out.startsWith('watching\n')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the /proc watcher did not start');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(out.slice('watching\n'.length)) as string[];
    },
  };
}
