import { realpath, stat } from 'node:fs/promises';
import { get } from 'node:http';
import { join, resolve } from 'node:path';
import type { Config, ProfileConfig } from '../config/config.js';
import { platformPaths } from '../config/platform-paths.js';
import { BrokerError, DaemonMismatchError, DaemonNotRunningError } from '../errors.js';
import { DAEMON_FILE, type DaemonInfo, readDaemonInfo } from '../store/daemon-file.js';
import { readToken } from '../store/endpoint-token-file.js';

// This module is on the fast path of credential-process, exec and env (run by tools for
// every new process, and in every new shell): it loads neither the config schema (zod) nor
// the keychain; both come in on use, through dynamic imports.

/** How long a command waits for the daemon to answer on loopback (it answers from memory). */
export const DAEMON_TIMEOUT_MS = 2_000;

/**
 * The daemon looks in the keychain for a new sign-in every 5 s (STORE_POLL_MS): a command
 * run right after `login` waits this long for it rather than report "not signed in".
 */
export const LOGIN_PICKUP_WAIT_MS = 6_000;
/** Between two tries while the daemon fetches credentials or picks up a sign-in. */
const RETRY_INTERVAL_MS = 200;

/** A daemon that runs for this config, and the token to call it with. */
export interface RunningDaemon {
  readonly info: DaemonInfo;
  /** Base URL, e.g. http://127.0.0.1:9911 */
  readonly url: string;
  readonly token: string;
}

/** Either the daemon, or why there is none fit to use (an error to report, or to fall back on). */
export type DaemonLookup = { readonly daemon: RunningDaemon } | { readonly daemon?: undefined; readonly problem: BrokerError };

export interface DaemonLookupOptions {
  /** The profile the caller wants served; a daemon started before the config named it does not serve it. */
  readonly profile?: string;
  /**
   * Also ask GET /healthz (one loopback call). Without it the daemon is taken as alive when
   * its pid is; the caller's own request then shows whether it answers.
   */
  readonly probe?: boolean;
}

/**
 * The daemon `serve` announced in daemon.json, if it is alive and serves this config: the
 * same config file (when the daemon wrote which), the same token file, and the profile.
 * Anything else (no file, a stale or hand-edited one, a dead pid, another config) is a
 * problem to report (`env`) or a reason to serve in-process instead (`exec`, `credential-process`).
 */
export async function findDaemon(config: Config, options: DaemonLookupOptions = {}): Promise<DaemonLookup> {
  const info = await readDaemonInfo(join(config.stateDir, DAEMON_FILE));
  const fallbackUrl = `http://${config.server.host}:${config.server.port}`;
  if (!isDaemonInfo(info) || !isAlive(info.pid)) return { problem: new DaemonNotRunningError(fallbackUrl) };
  return checkDaemon(info, config, options);
}

async function checkDaemon(info: DaemonInfo, config: Pick<Config, 'file' | 'server'>, options: DaemonLookupOptions): Promise<DaemonLookup> {
  if (info.config !== undefined && !(await sameFile(info.config, config.file))) {
    return { problem: new DaemonMismatchError(info.url, info.pid, `it serves the config ${info.config}, not ${config.file}`) };
  }
  if (info.tokenFile !== config.server.tokenFile) {
    return { problem: new DaemonMismatchError(info.url, info.pid, `its token file is ${info.tokenFile}, not ${config.server.tokenFile} as the config says`) };
  }
  if (options.profile !== undefined && !info.profiles.includes(options.profile)) {
    return { problem: new DaemonMismatchError(info.url, info.pid, `it does not serve profile "${options.profile}" (it serves: ${info.profiles.join(', ')}); it started before the config named it`) };
  }
  if (options.probe && !(await answers(info.url))) return { problem: new DaemonNotRunningError(info.url) };
  const token = await readToken(info.tokenFile);
  if (!token) return { problem: new DaemonNotRunningError(info.url) };
  return { daemon: { info, url: info.url, token } };
}

/**
 * The fast path, before the config is even parsed: the daemon serves this very config file
 * (by its path, as --config, COGNITO_BROKER_CONFIG or the default name it), and the file has
 * not changed since the daemon started. Its token file and default profile are then the
 * config's. Undefined when that cannot be told this way; the caller loads the config.
 */
export async function findDaemonOfConfigFile(configFlag: string | undefined, profile: string | undefined, options: Pick<DaemonLookupOptions, 'probe'> = {}): Promise<{ daemon: RunningDaemon; profile: string } | undefined> {
  const paths = platformPaths();
  // As resolveConfigFile (load-config.ts) picks it: --config, COGNITO_BROKER_CONFIG, the default.
  const file = resolve(configFlag ?? (process.env.COGNITO_BROKER_CONFIG || undefined) ?? paths.configFile);
  const info = await readDaemonInfo(join(paths.stateDir, DAEMON_FILE));
  if (!isDaemonInfo(info) || info.config === undefined || !isAlive(info.pid)) return undefined;
  // NaN (no startedAt) compares false: changed.
  const changed = await stat(file).then((s) => !(Date.parse(info.startedAt) >= s.mtimeMs), () => true);
  if (changed) return undefined;
  const name = profile ?? info.defaultProfile;
  const found = await checkDaemon(info, { file, server: { host: '', port: 0, tokenFile: info.tokenFile } }, { profile: name, probe: options.probe });
  return found.daemon ? { daemon: found.daemon, profile: name } : undefined;
}

/** The route of a profile: the default profile's at /credentials, the others' under /profiles/. */
export function daemonRoute(daemon: RunningDaemon, profile: string, what: 'credentials' | 'token'): string {
  return profile === daemon.info.defaultProfile ? `${daemon.url}/${what}` : `${daemon.url}/profiles/${encodeURIComponent(profile)}/${what}`;
}

/** What the daemon answered: its JSON body and status. Rejects only when it did not answer. */
export async function getFromDaemon(daemon: RunningDaemon, url: string): Promise<{ status: number; body: unknown }> {
  const { status, text } = await httpGet(url, { authorization: daemon.token });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status, body };
}

/**
 * A GET on loopback with node:http, not fetch: fetch's first call costs ~60 ms of start-up
 * (undici), more than the whole answer, and credential-process runs for every new process.
 */
function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers, timeout: DAEMON_TIMEOUT_MS, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within ${DAEMON_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

/** daemon.json as serve writes it; anything else (a stale or hand-edited file) means no daemon. */
export function isDaemonInfo(info: DaemonInfo | undefined): info is DaemonInfo {
  return (
    typeof info === 'object' && info !== null &&
    Number.isSafeInteger(info.pid) && info.pid > 0 &&
    typeof info.url === 'string' && /^http:\/\//.test(info.url) &&
    typeof info.tokenFile === 'string' && typeof info.defaultProfile === 'string' &&
    (info.config === undefined || typeof info.config === 'string') &&
    Array.isArray(info.profiles) && info.profiles.every((p) => typeof p === 'string')
  );
}

/** The same file, also when one path goes through a symbolic link (~/.config → elsewhere). */
async function sameFile(a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const [ra, rb] = await Promise.all([realpath(a).catch(() => a), realpath(b).catch(() => b)]);
  return ra === rb;
}

/** Signal 0 checks that the process exists; EPERM: it does, but is another user's (not our daemon). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await httpGet(`${url}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

/** GET /healthz: each profile's phase (no auth, no secrets); undefined when it does not answer. */
export async function daemonHealth(daemon: RunningDaemon): Promise<Record<string, string> | undefined> {
  try {
    const { profiles } = JSON.parse((await httpGet(`${daemon.url}/healthz`)).text) as { profiles?: Record<string, string> };
    return profiles;
  } catch {
    return undefined;
  }
}

/** The container-credentials body the daemon serves. */
export interface CredentialsBody {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly Token: string;
  readonly Expiration: string;
  readonly AccountId?: string;
}

/** An error the daemon answered with: its code and message, as it gave them (docs/errors.md lists them). */
export class DaemonReportedError extends BrokerError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The daemon's answer, or why it is no daemon of ours after all (the caller then serves in-process). */
export type DaemonAnswer<T> = { readonly value: T } | { readonly value?: undefined; readonly unusable: string };

/** The profile's credentials from the daemon (see askDaemon). */
export function daemonCredentials(daemon: RunningDaemon, profile: string, hasStoredSession: () => Promise<boolean>): Promise<DaemonAnswer<CredentialsBody>> {
  return askDaemon(daemon, profile, 'credentials', isCredentialsBody, hasStoredSession);
}

/**
 * One of the profile's routes: one loopback call when the daemon has what is asked. While
 * it is fetching, or has not yet seen a sign-in the keychain already holds (a `login` a
 * moment ago), it is asked again, up to LOGIN_PICKUP_WAIT_MS. Any other error it answers
 * with is thrown as it gave it.
 */
export async function askDaemon<T>(
  daemon: RunningDaemon,
  profile: string,
  what: 'credentials' | 'token',
  isBody: (body: unknown) => body is T,
  hasStoredSession: () => Promise<boolean>,
): Promise<DaemonAnswer<T>> {
  const url = daemonRoute(daemon, profile, what);
  const deadline = Date.now() + LOGIN_PICKUP_WAIT_MS;
  let signedIn: boolean | undefined;
  for (;;) {
    let answer: { status: number; body: unknown };
    try {
      answer = await getFromDaemon(daemon, url);
    } catch {
      return { unusable: `no answer at ${url}` };
    }
    if (answer.status === 200 && isBody(answer.body)) return { value: answer.body };
    // Another daemon took the port, or the token file changed under it: not ours to use.
    if (answer.status === 401) return { unusable: 'it refused the token in the token file' };
    const error = daemonError(answer);
    const waiting = error.code === 'BRK_ERR_CREDENTIALS_PENDING' ||
      ((error.code === 'BRK_ERR_NOT_SIGNED_IN' || error.code === 'BRK_ERR_LOGIN_REQUIRED') && (signedIn ??= await hasStoredSession()));
    if (!waiting || Date.now() + RETRY_INTERVAL_MS > deadline) throw error;
    await new Promise((resolve) => setTimeout(resolve, RETRY_INTERVAL_MS));
  }
}

/** The error the daemon answered with, as it gave it (docs/errors.md lists the codes). */
export function daemonError({ status, body }: { status: number; body: unknown }): DaemonReportedError {
  const { Code, Message } = (body ?? {}) as { Code?: unknown; Message?: unknown };
  if (typeof Code === 'string' && /^BRK_ERR_[A-Z_]+$/.test(Code) && typeof Message === 'string') return new DaemonReportedError(Code, Message);
  return new DaemonReportedError('BRK_ERR_INTERNAL', `The daemon answered HTTP ${status} without an error code; see its log.`);
}

function isCredentialsBody(body: unknown): body is CredentialsBody {
  const b = body as Partial<Record<keyof CredentialsBody, unknown>> | null;
  return typeof b === 'object' && b !== null && typeof b.AccessKeyId === 'string' && typeof b.SecretAccessKey === 'string' &&
    typeof b.Token === 'string' && typeof b.Expiration === 'string';
}

/** Whether the keychain holds a session for the profile (its owner's, for "signInFrom"); never throws. */
export async function storedSessionExists(profile: ProfileConfig): Promise<boolean> {
  try {
    const { SessionStore } = await import('../store/session-store.js');
    const { openKeychain } = await import('./cli-context.js');
    return (await new SessionStore(openKeychain()).load(profile.signInFrom ?? profile)) !== undefined;
  } catch {
    return false;
  }
}

/** --config and --profile, as the commands take them. */
export interface CommandOptions {
  readonly config?: string | undefined;
  readonly profile?: string | undefined;
}

/** The config (validated) and the profile, loaded on use: the fast path needs neither. */
export async function loadConfigAndProfile(options: CommandOptions): Promise<{ config: Config; profile: ProfileConfig }> {
  const { loadCliConfig, pickProfile } = await import('./cli-context.js');
  const config = await loadCliConfig(options);
  return { config, profile: pickProfile(config, options.profile) };
}
