import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { cacheDir } from '../config/platform-paths.js';
import type { CliIo } from './cli-io.js';
import type * as ImportPackage from './import-package.cjs';
import { ownPrivateDir } from '../store/private-paths.js';

const { importPackage } = createRequire(import.meta.url)('./import-package.cjs') as typeof ImportPackage;

/**
 * Starts the user's browser on a file. It is given only what every local user may read:
 * a process's argv is world-readable (/proc/PID/cmdline, `ps`), and so the opener gets the
 * launcher file's path, never a URL. `onFailure` reports an opener that could not start or
 * gave up.
 */
export type Opener = (target: string, onFailure: (why: string) => void) => Promise<void>;

/** The platform's opener through `open`: xdg-open on Linux, `open` on macOS, PowerShell's Start on Windows and WSL. */
export const systemOpener: Opener = async (target, onFailure) => {
  // Loaded on use: only a browser login needs it.
  const { default: open } = await importPackage<typeof import('open')>('open');
  const child = await open(target);
  child.once('error', (error) => onFailure(error.message));
  // xdg-open exits 3 or 4 when nothing can open the file (no browser, no display).
  child.once('exit', (code) => {
    if (code !== null && code !== 0) onFailure(`the opener exited with status ${code}`);
  });
};

/** The launcher's name in its private directory. */
const LAUNCHER_FILE = 'sign-in.html';
/** Signals that end a waiting login: the launcher goes with it. */
const ENDING_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Where launcher directories are made: $XDG_RUNTIME_DIR/cognito-broker on Linux when the
 * session has one (memory only, the user's, emptied at logout, so a launcher left by a
 * killed login never reaches a disk), else the user's cache directory.
 */
export function launcherBaseDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (platform !== 'darwin' && platform !== 'win32' && runtime && isAbsolute(runtime)) return join(runtime, 'cognito-broker');
  return join(cacheDir({ platform, env, home }), 'sign-in');
}

export interface BrowserLauncherOptions {
  readonly io: CliIo;
  readonly profileName: string;
  /** How long the login waits, for the message. */
  readonly timeoutMs: number;
  /** --no-browser: print the start URL only. */
  readonly noBrowser: boolean;
  readonly opener?: Opener | undefined;
  /** Where the launcher's own directory is made (default: launcherBaseDir()). */
  readonly baseDir?: string | undefined;
}

/**
 * Hands the one-time start URL of a browser login to this user's browser and to no one else.
 * The URL goes into a launcher page (0600, in a fresh 0700 directory of the user's) whose
 * path is all the opener gets, and onto the terminal for when the browser cannot open the
 * file: Ubuntu's snap Firefox, for one, reads no hidden or runtime directory. The launcher is
 * removed once the start URL is used, and when the login ends (also on Ctrl-C).
 */
export class BrowserLauncher {
  readonly #options: BrowserLauncherOptions;
  #dir: string | undefined;
  #removing: Promise<void> = Promise.resolve();
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.#removeNow();
    // Then end as the signal would have: nothing else of ours listens for it.
    process.kill(process.pid, signal);
  };

  constructor(options: BrowserLauncherOptions) {
    this.#options = options;
  }

  /** The launcher page while it exists. */
  get file(): string | undefined {
    return this.#dir === undefined ? undefined : join(this.#dir, LAUNCHER_FILE);
  }

  /** For signInWithBrowser's onStartUrl. */
  async handOut(startUrl: string, redirectUri: string): Promise<void> {
    const { io, profileName, timeoutMs, noBrowser } = this.#options;
    const wait = `Waiting up to ${formatDuration(timeoutMs)} for the browser to come back to ${redirectUri} (this exact URL must be an allowed callback / redirect URL of the client).`;
    if (noBrowser) {
      io.stderr(`To sign in to profile "${profileName}", open this URL in a browser on this machine (it works once; keep it to yourself):\n\n  ${startUrl}\n\n${wait}\n`);
      return;
    }
    let file: string | undefined;
    try {
      file = await this.#write(startUrl);
    } catch (error) {
      io.stderr(`cognito-broker: the page that opens the sign-in could not be written (${(error as Error).message}); open the URL below yourself.\n`);
    }
    io.stderr(
      `Opening the browser to sign in to profile "${profileName}".\n` +
        'If it does not open, or shows an error or a file instead of the sign-in page (a browser that cannot\n' +
        `read ${this.#options.baseDir ?? launcherBaseDir()}, such as Ubuntu's snap Firefox), open this URL yourself.\n` +
        `It works once; keep it to yourself:\n\n  ${startUrl}\n\n${wait}\n`,
    );
    if (file === undefined) return;
    const failed = (why: string) => io.stderr(`cognito-broker: no browser could be started (${why}); open the URL above yourself.\n`);
    try {
      await (this.#options.opener ?? systemOpener)(file, failed);
    } catch (error) {
      failed((error as Error).message);
    }
  }

  /**
   * For signInWithBrowser's onStarted, and at the end of the login (which waits for a removal
   * already under way). Never throws.
   */
  remove(): Promise<void> {
    const dir = this.#dir;
    if (dir !== undefined) {
      this.#dir = undefined;
      this.#watchSignals(false);
      this.#removing = rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
    return this.#removing;
  }

  async #write(startUrl: string): Promise<string> {
    const base = this.#options.baseDir ?? launcherBaseDir();
    await mkdir(base, { recursive: true, mode: 0o700 });
    // Another user's directory, or one others may write, could have the launcher swapped.
    if (!ownPrivateDir(base)) throw new Error(`${base} is not a directory of yours`);
    // mkdtemp: a fresh name, 0700, created by us alone.
    const dir = await mkdtemp(join(base, 'login-'));
    this.#dir = dir;
    this.#watchSignals(true);
    const file = join(dir, LAUNCHER_FILE);
    await writeFile(file, launcherPage(startUrl), { mode: 0o600, flag: 'wx' });
    return file;
  }

  #removeNow(): void {
    const dir = this.#dir;
    this.#dir = undefined;
    this.#watchSignals(false);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }

  #watchSignals(on: boolean): void {
    for (const signal of ENDING_SIGNALS) {
      if (on) process.once(signal, this.#onSignal);
      else process.off(signal, this.#onSignal);
    }
  }
}

/**
 * A page that sends the browser on to the start URL at once (meta refresh: no script, which
 * some browsers block in local files), with a link for a browser that does not follow it.
 */
export function launcherPage(startUrl: string): string {
  const url = escapeHtml(startUrl);
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0; url=${url}">
<title>cognito-broker sign-in</title></head>
<body><p>Opening the sign-in page&hellip; If nothing happens, <a href="${url}" rel="noreferrer">continue to the sign-in</a>.</p></body></html>
`;
}

export function formatDuration(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
