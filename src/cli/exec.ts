import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config, ProfileConfig } from '../config/config.js';
import { UsageError } from '../errors.js';
import { writePrivateFile } from '../store/atomic-file.js';
import { untrustedNote } from './broker-read.js';
import { type CliIo, processIo } from './cli-io.js';
import type { CommandOptions } from './cli-context.js';
import { isAlive } from './announced-daemon.js';
import { type ChildTokenHold, type DaemonConnection, useBroker } from './daemon-client.js';
import { securePrivatePaths } from '../store/private-paths.js';

export const EXEC_HELP = `Usage: cognito-broker exec [--profile P] [--with-id-token] [--config PATH] -- COMMAND [ARGS...]

Runs COMMAND (directly, no shell) with AWS credentials from the broker: every AWS SDK and
CLI in it, and in what it starts, finds them through the container-credentials endpoint.
  cognito-broker exec -- aws sts get-caller-identity
  cognito-broker exec --profile work -- terraform plan

Uses the running daemon (cognito-broker serve) when it serves this config and profile and
proves it is yours; otherwise serves the profile itself, on 127.0.0.1 and a free port, for
as long as COMMAND runs. Either way, COMMAND starts only once credentials are there: not
signed in is an error (exit 1) before anything runs.

COMMAND gets a token of its own: it opens this profile's credentials (and, with
--with-id-token, its ID token at /token) and nothing else, and stops working when COMMAND
ends. The daemon honours it while this command holds a connection to it; if the daemon
restarts meanwhile, the token is registered again when it is back.

COMMAND's environment:
  set      AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN and
           AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (as 'cognito-broker env' prints them);
           AWS_CREDENTIAL_EXPIRATION: when the credentials served at the start expire
           (ISO 8601), for prompts that show it; the endpoint renews them before then
  removed  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: every SDK prefers it over FULL_URI.
           AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (and the older
           AWS_SECURITY_TOKEN, and the parent's AWS_CREDENTIAL_EXPIRATION): static keys come
           first in every SDK's chain and would be used instead of the broker's.
           AWS_PROFILE, AWS_DEFAULT_PROFILE: a named profile is read before the container
           endpoint (and one that does not exist is an error in boto3 and the AWS CLI).
           AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME: web identity
           also comes before the container endpoint.
  A [default] profile with keys in ~/.aws/credentials still comes first; remove them.

Signals: SIGINT, SIGTERM and SIGHUP are passed to COMMAND (a Ctrl-C at the terminal reaches
it directly, and is not sent twice). Exit code: COMMAND's, or 128 + the signal number when a
signal ended it; 127 when COMMAND is not found, 126 when it cannot be run.

  --profile P       profile from the config (default: the config's default profile)
  --with-id-token   COMMAND's token also opens the profile's ID token (GET /token)
  --config PATH     config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

/** Removed from COMMAND's environment: each would make an SDK use other credentials (see EXEC_HELP). */
export const REMOVED_VARIABLES: readonly string[] = [
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
];

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** Shell conventions (POSIX 2.8.2). */
const EXIT_NOT_FOUND = 127;
const EXIT_CANNOT_RUN = 126;
const SIGNAL_EXIT_BASE = 128;

/** Where COMMAND gets its credentials, and what to undo when it ends. */
export interface CredentialsEndpoint {
  readonly fullUri: string;
  readonly token: string;
  readonly tokenFile: string;
  /** When the credentials served at the start expire (ISO 8601): AWS_CREDENTIAL_EXPIRATION. */
  readonly expiration: string;
  readonly via: 'daemon' | 'in-process';
  close(): Promise<void>;
}

/** Between two attempts to register the child's token again with a daemon that went away. */
const REREGISTER_MIN_MS = 1_000;
const REREGISTER_MAX_MS = 10_000;

export interface ExecOptions extends CommandOptions {
  /** The child's token also opens the profile's /token. */
  readonly idToken?: boolean;
}

export async function exec(argv: string[], io: CliIo = processIo): Promise<number> {
  const dashes = argv.indexOf('--');
  const command = dashes === -1 ? [] : argv.slice(dashes + 1);
  if (command.length === 0 || !command[0]) throw new UsageError('exec needs a command after --: cognito-broker exec [--profile P] -- COMMAND [ARGS...]');
  const { values } = parseArgs({
    args: argv.slice(0, dashes),
    options: { profile: { type: 'string' }, config: { type: 'string' }, 'with-id-token': { type: 'boolean', default: false } },
    strict: true,
  });
  const endpoint = await openEndpoint({ config: values.config, profile: values.profile, idToken: values['with-id-token'] }, io);
  try {
    return await runCommand(command as [string, ...string[]], childEnvironment(process.env, endpoint), io);
  } finally {
    await endpoint.close();
  }
}

/**
 * The running daemon when it serves this config and profile and proves it is ours, else a
 * server of our own. Either way the child's token is random, its own, and opens the profile
 * only while this process runs.
 */
export async function openEndpoint(options: ExecOptions, io?: CliIo): Promise<CredentialsEndpoint> {
  const token = randomBytes(32).toString('hex');
  const idToken = options.idToken === true;
  return useBroker<CredentialsEndpoint>(options, {
    daemon: (daemon, profile, hasStoredSession) => viaDaemon(daemon, profile, { token, idToken }, hasStoredSession),
    inProcess: (config, profile) => serveInProcess(config, profile, { token, idToken }),
    onUntrusted: untrustedNote(io),
  });
}

export interface ChildToken {
  readonly token: string;
  readonly idToken: boolean;
  /** A container token (`docker run`), sent in Authorization or, with inPath, as RELATIVE_URI's path. */
  readonly container?: { readonly inPath: boolean };
}

/** Credentials first (COMMAND starts only once they are there), then the child's token, held open. */
async function viaDaemon(daemon: DaemonConnection, profile: string, child: ChildToken, hasStoredSession: () => Promise<boolean>): Promise<CredentialsEndpoint | undefined> {
  const answer = await daemon.credentials(profile, hasStoredSession);
  if (!answer.value) return undefined;
  const tokenFile = join(daemon.stateDir, `${EXEC_TOKEN_PREFIX}${process.pid}`);
  await removeStaleTokenFiles(daemon.stateDir);
  const release = await holdWhileRunning(daemon, profile, child);
  try {
    await writePrivateFile(tokenFile, child.token);
  } catch (error) {
    release();
    throw error;
  }
  return {
    fullUri: daemon.route(profile, 'credentials'),
    token: child.token,
    tokenFile,
    expiration: answer.value.Expiration,
    via: 'daemon',
    close: async () => {
      release();
      await rm(tokenFile, { force: true });
    },
  };
}

/**
 * Registers the child's token with the daemon over a connection of its own and keeps it
 * registered: when the daemon goes away (a restart, a crash), it is registered again, on a
 * newly proved connection, as soon as the daemon is back. Resolves with the function that
 * ends it all.
 */
export async function holdWhileRunning(daemon: DaemonConnection, profile: string, child: ChildToken): Promise<() => void> {
  let hold: ChildTokenHold = await (await daemon.reopen()).holdChildToken(profile, child.token, child.idToken, child.container);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const pause = (ms: number) => new Promise<void>((resolve) => (timer = setTimeout(resolve, ms).unref()));
  void (async () => {
    while (!stopped) {
      await hold.ended;
      for (let delay = REREGISTER_MIN_MS; !stopped; delay = Math.min(REREGISTER_MAX_MS, delay * 2)) {
        await pause(delay);
        if (stopped) return;
        try {
          const next = await (await daemon.reopen()).holdChildToken(profile, child.token, child.idToken, child.container);
          if (stopped) next.release();
          else hold = next;
          break;
        } catch {
          // Not back yet, or not ours: no token was sent to it; try again later.
        }
      }
    }
  })();
  return () => {
    stopped = true;
    clearTimeout(timer);
    hold.release();
  };
}

async function serveInProcess(config: Config, profile: ProfileConfig, child: ChildToken): Promise<CredentialsEndpoint> {
  const { createInProcessDaemon, firstRead } = await import('../app/in-process-broker.js');
  // The child's token in a file of its own (the SDKs that prefer the file need one): never
  // in argv, and gone when COMMAND ends.
  const tokenFile = join(config.stateDir, `${EXEC_TOKEN_PREFIX}${process.pid}`);
  await securePrivatePaths({ stateDir: config.stateDir, tokenFile });
  await removeStaleTokenFiles(config.stateDir);
  const daemon = createInProcessDaemon(config, profile);
  const end = daemon.auth.registerChild(child.token, { profile: profile.name, idToken: child.idToken });
  const close = async () => {
    end();
    await daemon.close();
    await rm(tokenFile, { force: true });
  };
  try {
    const url = await daemon.listen();
    const credentials = await firstRead(daemon, profile.name, (session) => session.credentials());
    await writePrivateFile(tokenFile, child.token);
    return { fullUri: `${url}/credentials`, token: child.token, tokenFile, expiration: new Date(credentials.expiresAt).toISOString(), via: 'in-process', close };
  } catch (error) {
    await close();
    throw error;
  }
}

const EXEC_TOKEN_PREFIX = 'exec-token-';

/** Token files of exec processes killed before they could remove theirs (kill -9). */
async function removeStaleTokenFiles(stateDir: string): Promise<void> {
  for (const name of await readdir(stateDir).catch(() => [] as string[])) {
    const pid = Number(name.startsWith(EXEC_TOKEN_PREFIX) ? name.slice(EXEC_TOKEN_PREFIX.length) : NaN);
    if (Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid)) await rm(join(stateDir, name), { force: true });
  }
}

/** This process's environment for COMMAND: the endpoint's variables in, other credentials out. */
export function childEnvironment(parent: NodeJS.ProcessEnv, endpoint: Pick<CredentialsEndpoint, 'fullUri' | 'token' | 'tokenFile'> & { readonly expiration?: string | undefined }, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  // Windows' variable names are case-insensitive: "aws_profile" counts there.
  const removed = new Set(REMOVED_VARIABLES.map((name) => (platform === 'win32' ? name.toUpperCase() : name)));
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    if (!removed.has(platform === 'win32' ? name.toUpperCase() : name)) env[name] = value;
  }
  env.AWS_CONTAINER_CREDENTIALS_FULL_URI = endpoint.fullUri;
  // Both, as `env` prints them: older SDKs (botocore 1.29, AWS CLI 2.9) read only the value.
  env.AWS_CONTAINER_AUTHORIZATION_TOKEN = endpoint.token;
  env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = endpoint.tokenFile;
  // For prompts and tools that show the time left (starship's aws module). The SDKs read it
  // only beside static keys, which are removed above: it changes no credential choice.
  if (endpoint.expiration !== undefined) env.AWS_CREDENTIAL_EXPIRATION = endpoint.expiration;
  return env;
}

/** Runs COMMAND to its end, passing signals on; resolves with the exit code to give. */
export async function runCommand([file, ...args]: [string, ...string[]], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const child = spawn(file, args, { stdio: 'inherit', env });
  const forward = (signal: NodeJS.Signals) => {
    if (signal === 'SIGINT' && terminalSentItToo()) return;
    child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  try {
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: NodeJS.ErrnoException }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', (error: NodeJS.ErrnoException) => {
        // Only a failed spawn ends here; a failed kill() of a running child does not.
        if (child.pid === undefined) resolve({ error });
      });
    });
    if ('error' in ended) {
      const notFound = ended.error.code === 'ENOENT';
      io.stderr(`cognito-broker: exec: ${file}: ${notFound ? 'command not found' : `cannot run it (${ended.error.code ?? ended.error.message})`}\n`);
      return notFound ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
    }
    if (ended.signal) return SIGNAL_EXIT_BASE + (constants.signals[ended.signal] ?? 0);
    return ended.code ?? 1;
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}

/**
 * A Ctrl-C at a terminal sends SIGINT to its whole foreground process group: COMMAND, which
 * shares ours, has it already. Sending it again would make two interrupts of one, which
 * some programs take as "stop now, whatever the damage" (terraform: "Two interrupts
 * received. Exiting immediately"). So SIGINT is passed on only when we are not in the
 * terminal's foreground group, i.e. when it came from `kill`, a supervisor or a script.
 * (A `kill -INT` aimed at this process while it is in the foreground is then not passed on.)
 */
function terminalSentItToo(): boolean {
  try {
    if (process.platform === 'linux') {
      // /proc/self/stat: "pid (comm) state ppid pgrp session tty_nr tpgid ..."; comm may hold spaces and parens.
      const stat = readFileSync('/proc/self/stat', 'utf8');
      const [, , pgrp, , ttyNr, tpgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ttyNr !== '0' && pgrp !== undefined && pgrp === tpgid;
    }
    if (process.platform === 'darwin') {
      const [pgid, tpgid] = execFileSync('ps', ['-o', 'pgid=,tpgid=', '-p', String(process.pid)], { encoding: 'utf8' }).trim().split(/\s+/);
      return pgid !== undefined && pgid === tpgid;
    }
  } catch {
    // Cannot tell: pass it on.
  }
  return false;
}
