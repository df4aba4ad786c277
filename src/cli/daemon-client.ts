import { randomBytes } from 'node:crypto';
import type { Agent, AgentOptions, ClientRequest, ClientRequestArgs } from 'node:http';
import { createConnection, type NetConnectOpts, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import type { Config, ProfileConfig } from '../config/config.js';
import { BrokerError, DaemonMismatchError, DaemonNotRunningError, DaemonReportedError, DaemonUntrustedError } from '../errors.js';
import { nodeHttp } from '../node-http.js';
import { type CredentialsBody, isCredentialsBody } from '../server/container-credentials.js';
import { DAEMON_FILE, type DaemonInfo, readDaemonInfo } from '../store/daemon-file.js';
import { deriveProfileToken, isDaemonProof } from '../server/endpoint-auth.js';
import { connectCommandSocket } from '../app/command-socket.js';
import { describeOwner, listenerOwner } from '../app/listener-owner.js';
import { announcedDaemon, commandSocketOf, isAlive, isDaemonInfo, profileUrl, sameFile } from './announced-daemon.js';
import { DAEMON_TIMEOUT_MS, isTokenBody, type TokenBody } from './ask-daemon-socket.js';
import type { CommandOptions } from './cli-context.js';
import { readToken } from '../store/endpoint-token-file.js';

// How commands reach the daemon (the bin's fast path for token and credential-process aside:
// ask-daemon-socket.ts, which sends a token only to the command socket this module would use).
// It sends no token to a listener before that listener has proved it is this user's daemon:
// by being on a socket only this user could have made (the command socket in the state
// directory), else by a proof only a holder of the master token can give and, on Linux, the
// listening socket's owner. It falls back to a broker in this process for the commands that
// can do without the daemon.
//
// It is on the path of credential-process, token, exec and env (run by tools for every new
// process, and in every new shell): it loads neither the config schema (zod) nor the
// keychain nor fastify; they come in on use, through dynamic imports.

/**
 * The daemon looks in the keychain for a new sign-in every 5 s (STORE_POLL_MS): a command
 * run right after `login` waits this long for it rather than report "not signed in".
 */
export const LOGIN_PICKUP_WAIT_MS = 6_000;
/** Between two tries while the daemon fetches credentials or picks up a sign-in. */
const RETRY_INTERVAL_MS = 200;

export type { TokenBody } from './ask-daemon-socket.js';

/** Either the verified daemon, or why there is none fit to use (to report, or to fall back on). */
export type DaemonLookup = { readonly daemon: DaemonConnection } | { readonly daemon?: undefined; readonly problem: BrokerError };

/** The daemon's answer, or why it is no daemon of ours after all (the caller then serves in-process). */
export type DaemonAnswer<T> = { readonly value: T } | { readonly value?: undefined; readonly unusable: string };

/**
 * A connection to the daemon, proved to be this user's before anything else was sent on it.
 * Every request goes over that one socket: when it closes, the connection is done (open a
 * new one, which proves itself again), so no request can reach a listener that took the
 * port in between.
 */
export class DaemonConnection {
  private constructor(
    readonly info: DaemonInfo,
    /** The state directory whose daemon.json named it (exec keeps its child's token file there). */
    readonly stateDir: string,
    private readonly master: string,
    private readonly agent: Agent,
  ) {}

  /** The base URL, e.g. http://127.0.0.1:9911. */
  get url(): string {
    return this.info.url;
  }

  /**
   * Connects and checks the listener: the daemon's command socket when it is this user's in
   * the state directory (commandSocketOf), for only this user could have made it; else
   * loopback TCP, whose listening socket must be this user's on Linux (the kernel's socket
   * table). Then the listener must answer a fresh challenge with the proof only the master's
   * holder can compute: a daemon that has not yet taken up a rotated token (rotate-token
   * waits for that) or one from before an upgrade fails it. Throws DaemonNotRunningError
   * (nothing listens) or DaemonUntrustedError (something else does).
   */
  static async open(info: DaemonInfo, stateDir: string, master: string): Promise<DaemonConnection> {
    const socket = commandSocketOf(info, stateDir);
    // Nothing listening there (a socket left by kill -9): loopback TCP.
    const local = socket === undefined ? undefined : await connectCommandSocket(socket);
    if (!local) {
      const url = new URL(info.url);
      const owner = await listenerOwner(url.hostname, Number(url.port));
      if (owner === undefined) throw new DaemonNotRunningError(info.url);
      if (owner && owner.uid !== process.getuid?.()) throw new DaemonUntrustedError(info.url, `the port is held by another user's process (${describeOwner(owner)})`);
    }
    const connection = new DaemonConnection(info, stateDir, master, oneSocketAgent(local));
    const nonce = randomBytes(32).toString('hex');
    let answer: { status: number; body: unknown };
    try {
      answer = await connection.send('GET', `/proof?nonce=${nonce}`, { withToken: false });
    } catch {
      connection.close();
      throw new DaemonNotRunningError(info.url);
    }
    if (answer.status !== 200 || !isDaemonProof(master, nonce, (answer.body as { proof?: unknown } | undefined)?.proof)) {
      connection.close();
      throw new DaemonUntrustedError(
        info.url,
        'it could not prove that it knows this config\'s endpoint token (another program; a cognito-broker started before an upgrade, which needs a restart; or one that has not yet taken up a rotated token, which it does within 5 s)',
      );
    }
    return connection;
  }

  /** A new connection to the same daemon, proved again, with the token file read again (it may have been rotated). */
  async reopen(): Promise<DaemonConnection> {
    const master = readToken(this.info.tokenFile);
    if (!master) throw new DaemonNotRunningError(this.info.url);
    return DaemonConnection.open(this.info, this.stateDir, master);
  }

  /** The URL of one of the profile's routes. */
  route(profile: string, what: 'credentials' | 'token'): string {
    return profileUrl(this.info.url, profile, this.info.defaultProfile, what);
  }

  /** The token that opens `profile`'s credentials (and its ID token with `idToken`): derived from the master. */
  profileToken(profile: string, idToken: boolean): string {
    return deriveProfileToken(this.master, profile, idToken);
  }

  /** GET a path with the master token. Rejects only when the daemon did not answer. */
  get(path: string): Promise<{ status: number; body: unknown }> {
    return this.send('GET', path, { withToken: true });
  }

  /** Any method, with the master token and a JSON body (the container routes). Rejects only when the daemon did not answer. */
  call(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    return this.send(method, path, { withToken: true, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  }

  /** The profile's credentials (see ask). */
  credentials(profile: string, hasStoredSession: () => Promise<boolean>): Promise<DaemonAnswer<CredentialsBody>> {
    return this.ask(profile, 'credentials', isCredentialsBody, hasStoredSession);
  }

  /** The profile's ID and access tokens (see ask). */
  tokens(profile: string, hasStoredSession: () => Promise<boolean>): Promise<DaemonAnswer<TokenBody>> {
    return this.ask(profile, 'token', isTokenBody, hasStoredSession);
  }

  /**
   * Opens `token` to the profile for as long as the returned hold lasts (POST /child-tokens):
   * the connection's last use, since the request stays open. `ended` settles when the daemon
   * ends it (it stops, or the connection breaks); release() ends it from here.
   */
  async holdChildToken(profile: string, token: string, idToken: boolean, container?: { readonly inPath: boolean }): Promise<ChildTokenHold> {
    // `container`: a token for the container listener only (docker run), in Authorization or as RELATIVE_URI's path.
    const body = JSON.stringify({ profile, token, idToken, ...(container ? { container: true, inPath: container.inPath } : {}) });
    const { request, status, firstLine } = await this.open('POST', '/child-tokens', body);
    if (status !== 200) {
      request.destroy();
      throw daemonError({ status, body: parseJson(firstLine) });
    }
    const ended = new Promise<void>((resolve) => {
      request.once('close', resolve);
      request.once('error', () => resolve());
    });
    return {
      ended,
      release: () => {
        request.destroy();
        this.close();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * One of the profile's routes: one loopback call when the daemon has what is asked. While
   * it is fetching, or has not yet seen a sign-in the keychain already holds (a `login` a
   * moment ago), it is asked again, up to LOGIN_PICKUP_WAIT_MS. Any other error it answers
   * with is thrown as it gave it.
   */
  private async ask<T>(profile: string, what: 'credentials' | 'token', isBody: (body: unknown) => body is T, hasStoredSession: () => Promise<boolean>): Promise<DaemonAnswer<T>> {
    const path = new URL(this.route(profile, what)).pathname;
    const deadline = Date.now() + LOGIN_PICKUP_WAIT_MS;
    let signedIn: boolean | undefined;
    for (;;) {
      let answer: { status: number; body: unknown };
      try {
        answer = await this.get(path);
      } catch {
        return { unusable: `no answer at ${this.info.url}` };
      }
      if (answer.status === 200 && isBody(answer.body)) return { value: answer.body };
      // The master changed under a proved connection (a rotation that very moment): not usable now.
      if (answer.status === 401) return { unusable: 'it refused the token in the token file' };
      const error = daemonError(answer);
      const waiting = error.code === 'BRK_ERR_CREDENTIALS_PENDING' ||
        ((error.code === 'BRK_ERR_NOT_SIGNED_IN' || error.code === 'BRK_ERR_LOGIN_REQUIRED') && (signedIn ??= await hasStoredSession()));
      if (!waiting || Date.now() + RETRY_INTERVAL_MS > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_INTERVAL_MS));
    }
  }

  private async send(method: string, path: string, options: { withToken: boolean; body?: string }): Promise<{ status: number; body: unknown }> {
    const { request, status, rest } = await this.open(method, path, options.body, options.withToken);
    request.setTimeout(DAEMON_TIMEOUT_MS);
    return { status, body: parseJson(await rest()) };
  }

  /** Sends one request over the proved socket; resolves at the answer's first line. */
  private open(method: string, path: string, body?: string, withToken = true): Promise<{ request: ClientRequest; status: number; firstLine: string; rest(): Promise<string> }> {
    const url = new URL(path, this.info.url);
    return new Promise((resolvePromise, reject) => {
      const headers: Record<string, string> = {};
      if (withToken) headers.authorization = this.master;
      if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
      const request = nodeHttp.request(url, { method, headers, agent: this.agent, timeout: DAEMON_TIMEOUT_MS }, (response) => {
        let text = '';
        let settled = false;
        const done = new Promise<string>((resolveText, rejectText) => {
          response.on('end', () => resolveText(text));
          response.on('error', rejectText);
          response.on('aborted', () => rejectText(new Error('the daemon closed the answer')));
        });
        done.catch(() => undefined);
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
          const newline = text.indexOf('\n');
          if (!settled && newline !== -1) {
            settled = true;
            request.setTimeout(0);
            resolvePromise({ request, status: response.statusCode ?? 0, firstLine: text.slice(0, newline), rest: () => done });
          }
        });
        response.on('end', () => {
          if (!settled) resolvePromise({ request, status: response.statusCode ?? 0, firstLine: text, rest: () => done });
        });
      });
      request.on('timeout', () => request.destroy(new Error(`no answer from ${this.info.url} within ${DAEMON_TIMEOUT_MS} ms`)));
      request.on('error', reject);
      request.end(body);
    });
  }
}

/** A child token the daemon honours while this lasts. */
export interface ChildTokenHold {
  /** Settles when the daemon ended it (it stopped, or the connection broke). */
  readonly ended: Promise<void>;
  release(): void;
}

/**
 * An agent with at most one socket, ever: once it is closed, requests fail rather than open
 * another (which could reach whoever took the port since the proof). `connected`: that one
 * socket, already open (the command socket). Made by a function, not a class that extends
 * Agent: a class declaration would load node:http wherever this module is bundled (the bin).
 */
function oneSocketAgent(connected?: Socket): Agent {
  const agent = new nodeHttp.Agent({ keepAlive: true, maxSockets: 1 } satisfies AgentOptions);
  let opened = false;
  agent.createConnection = (options: ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined => {
    if (opened) {
      callback?.(new Error('the proved connection to the daemon is closed'), undefined as unknown as Duplex);
      return undefined;
    }
    opened = true;
    return connected ?? createConnection(options as NetConnectOpts);
  };
  const destroy = agent.destroy.bind(agent);
  agent.destroy = () => {
    destroy();
    // Never handed to a request (the connection was closed unused): the agent does not know it.
    connected?.destroy();
  };
  return agent;
}

/**
 * The daemon `serve` announced in daemon.json, if it serves this config (the same config
 * file, token file and profile) and proves it is this user's. Anything else is a problem to
 * report (`env`, `status`) or a reason to serve in-process (`exec`, `credential-process`, `token`).
 */
export async function findDaemon(config: Config, options: { readonly profile?: string } = {}): Promise<DaemonLookup> {
  const info = readDaemonInfo(join(config.stateDir, DAEMON_FILE));
  const fallbackUrl = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${config.server.port}`;
  if (!isDaemonInfo(info) || !isAlive(info.pid)) return { problem: new DaemonNotRunningError(fallbackUrl) };
  return checkDaemon(info, config.stateDir, config, options.profile);
}

/**
 * The daemon announced for the config file (announcedDaemon: no config parsing), checked as
 * findDaemon checks it. Undefined when it cannot be told this way: the caller loads the config.
 */
export async function findDaemonOfConfigFile(options: CommandOptions): Promise<{ lookup: DaemonLookup; profile: string } | undefined> {
  const announced = announcedDaemon(options);
  if (!announced) return undefined;
  const { info, stateDir, file, profile } = announced;
  return { lookup: await checkDaemon(info, stateDir, { file, server: { host: '', port: 0, tokenFile: info.tokenFile } }, profile), profile };
}

async function checkDaemon(info: DaemonInfo, stateDir: string, config: Pick<Config, 'file' | 'server'>, profile: string | undefined): Promise<DaemonLookup> {
  if (info.config !== undefined && !sameFile(info.config, config.file)) {
    return { problem: new DaemonMismatchError(info.url, info.pid, `it serves the config ${info.config}, not ${config.file}`) };
  }
  if (info.tokenFile !== config.server.tokenFile) {
    return { problem: new DaemonMismatchError(info.url, info.pid, `its token file is ${info.tokenFile}, not ${config.server.tokenFile} as the config says`) };
  }
  if (profile !== undefined && !info.profiles.includes(profile)) {
    return { problem: new DaemonMismatchError(info.url, info.pid, `it does not serve profile "${profile}" (it serves: ${info.profiles.join(', ')}); it started before the config named it`) };
  }
  const master = readToken(info.tokenFile);
  if (!master) return { problem: new DaemonNotRunningError(info.url) };
  try {
    return { daemon: await DaemonConnection.open(info, stateDir, master) };
  } catch (error) {
    if (error instanceof BrokerError) return { problem: error };
    throw error;
  }
}

/** How a command that can also work without the daemon gets what it needs. */
export interface BrokerUse<T> {
  /** Through the verified daemon; undefined when it cannot serve after all (then in-process). */
  daemon(daemon: DaemonConnection, profile: string, hasStoredSession: () => Promise<boolean>): Promise<T | undefined>;
  /** In this process: the keychain and Cognito, through the same broker code `serve` runs. */
  inProcess(config: Config, profile: ProfileConfig): Promise<T>;
  /** Told when a listener was found that is not this user's daemon (before serving in-process). */
  onUntrusted?(problem: BrokerError): void;
}

/**
 * The daemon of this config, verified; else a broker in this process. The daemon is looked
 * for first by the config file's path (no config parsing: the fast path of credential-process
 * and exec), then through the loaded config.
 */
export async function useBroker<T>(options: CommandOptions, use: BrokerUse<T>): Promise<T> {
  let loaded: Promise<{ config: Config; profile: ProfileConfig }> | undefined;
  const load = () => (loaded ??= loadConfigAndProfile(options));
  const hasStoredSession = async () => {
    const { config, profile } = await load();
    return storedSessionExists(config, profile);
  };
  const tryDaemon = async (lookup: DaemonLookup, profile: string): Promise<{ value: T } | undefined> => {
    if (!lookup.daemon) {
      if (lookup.problem instanceof DaemonUntrustedError) use.onUntrusted?.(lookup.problem);
      return undefined;
    }
    try {
      const value = await use.daemon(lookup.daemon, profile, hasStoredSession);
      return value === undefined ? undefined : { value };
    } finally {
      lookup.daemon.close();
    }
  };
  const fast = await findDaemonOfConfigFile(options);
  if (fast) {
    const found = await tryDaemon(fast.lookup, fast.profile);
    if (found) return found.value;
  }
  const { config, profile } = await load();
  // The fast path looked at this very daemon already; a second look would only repeat it.
  if (!fast) {
    const found = await tryDaemon(await findDaemon(config, { profile: profile.name }), profile.name);
    if (found) return found.value;
  }
  return use.inProcess(config, profile);
}

/** The error the daemon answered with, as it gave it (docs/errors.md lists the codes). */
export function daemonError({ status, body }: { status: number; body: unknown }): DaemonReportedError {
  const { Code, Message } = (body ?? {}) as { Code?: unknown; Message?: unknown };
  if (typeof Code === 'string' && /^BRK_ERR_[A-Z_]+$/.test(Code) && typeof Message === 'string') return new DaemonReportedError(Code, Message);
  return new DaemonReportedError('BRK_ERR_INTERNAL', `The daemon answered HTTP ${status} without an error code; see its log.`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Whether the keychain holds a session for the profile (its owner's, for "signInFrom"); never throws. */
export async function storedSessionExists(config: Config, profile: ProfileConfig): Promise<boolean> {
  try {
    const { SessionStore } = await import('../store/session-store.js');
    const { openSecretStore } = await import('../app/open-secret-store.js');
    return (await new SessionStore(openSecretStore(config)).load(profile.signInFrom ?? profile)) !== undefined;
  } catch {
    return false;
  }
}

/** The config (validated) and the profile, loaded on use: the fast path needs neither. */
export async function loadConfigAndProfile(options: CommandOptions): Promise<{ config: Config; profile: ProfileConfig }> {
  const { loadCliConfig, pickProfile } = await import('./cli-context.js');
  const config = await loadCliConfig(options);
  return { config, profile: pickProfile(config, options.profile) };
}
