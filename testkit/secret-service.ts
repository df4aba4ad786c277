/**
 * A private, real Secret Service: gnome-keyring on its own D-Bus session bus, in a temp
 * HOME. The tests use it, and so do the demo and the benchmarks when the machine has no
 * Secret Service of its own (a container, CI, an SSH session).
 *
 * Every daemon is a direct child of this process, started in the foreground (not forked
 * into the background): stop() can then kill and reap it, and nothing outlives the
 * process (a forked daemon would be reparented to PID 1, which in some containers never
 * reaps it). Needs, on PATH: dbus-daemon, dbus-send (Debian/Ubuntu package `dbus`) and
 * gnome-keyring-daemon (package `gnome-keyring`).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { ChildGroup, hasExited } from './children.js';

const execFileAsync = promisify(execFile);

export const REQUIRED_TOOLS = ['dbus-daemon', 'dbus-send', 'gnome-keyring-daemon'] as const;
export const INSTALL_HINT = 'apt-get install -y --no-install-recommends gnome-keyring dbus';

const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 25;
const DBUS_CALL_TIMEOUT_MS = 5_000;
const LOGIN_COLLECTION = '/org/freedesktop/secrets/collection/login';

/** Why the real Secret Service cannot run here, or undefined when it can. */
export function missingSecretServiceTools(): string | undefined {
  if (process.platform !== 'linux') return `the Secret Service is the Linux keychain; this is ${process.platform}`;
  const missing = REQUIRED_TOOLS.filter((tool) => !isOnPath(tool));
  return missing.length > 0 ? `${missing.join(', ')} not found on PATH (${INSTALL_HINT})` : undefined;
}

export interface SessionBus {
  /** The temp directory holding HOME, XDG_RUNTIME_DIR and the bus socket. */
  readonly dir: string;
  /** What a process needs to use this session: DBUS_SESSION_BUS_ADDRESS, HOME, XDG_*. */
  readonly env: Readonly<Record<string, string>>;
  /** Kills everything started for this session and removes the temp directory. */
  stop(): Promise<void>;
}

export interface SecretService extends SessionBus {
  /** Locks the login keyring (the default collection), as a screen lock would. */
  lock(): Promise<void>;
  /** undefined while the first gnome-keyring-daemon runs; once one has exited, how, and what it printed. */
  daemonExit(): string | undefined;
  /** The running gnome-keyring-daemon's pid (once a restart has finished, the new one's). */
  daemonPid(): Promise<number | undefined>;
}

/**
 * A private D-Bus session bus with nothing on it. It activates no services (unlike the
 * system's session.conf, whose service files would start gnome-keyring on demand), so a
 * call to the Secret Service finds nobody there.
 */
export async function startSessionBus(): Promise<SessionBus> {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-ss-'));
  const home = join(dir, 'home');
  const runtime = join(dir, 'run');
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(runtime, { mode: 0o700 });
  const config = join(dir, 'bus.conf');
  writeFileSync(config, busConfig(join(dir, 'bus')));

  const children = new ChildGroup();
  try {
    const bus = children.spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--nopidfile', '--print-address=1'], {
      env: { PATH: process.env.PATH ?? '' },
    });
    const address = await firstLine(bus);
    const env = {
      DBUS_SESSION_BUS_ADDRESS: address,
      HOME: home,
      XDG_RUNTIME_DIR: runtime,
      XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_CACHE_HOME: join(home, '.cache'),
    };
    return { dir, env, stop: () => children.stopAll().finally(() => rmSync(dir, { recursive: true, force: true })) };
  } catch (error) {
    await children.stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * gnome-keyring's Secret Service on a private session bus, with an unlocked login
 * keyring created with `password` (fed on stdin, as protocol-facts.md shows, never argv).
 */
export async function startSecretService({ password = 'test-keyring-password' } = {}): Promise<SecretService> {
  const session = await startSessionBus();
  const keyring = new ChildGroup();
  let stopping = false;
  const stop = () => {
    stopping = true;
    return keyring.stopAll().finally(() => session.stop());
  };
  const env = { PATH: process.env.PATH ?? '', ...session.env };
  const crashes: string[] = [];
  let locked = false;
  const startDaemon = async (): Promise<ChildProcess> => {
    const child = keyring.spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env });
    child.stdin?.end(password);
    await waitUntil(async () => (await isLoginLocked(session.env)) === false, child, 'gnome-keyring-daemon to unlock the login keyring');
    // gnome-keyring-daemon has been seen to leave the bus under the load of CI (callers got
    // "recipient disconnected"). A desktop's session manager starts it again, and so does
    // this, once, loudly: the keyring's files are on disk and it unlocks with the same
    // password. A second exit stays an exit, and daemonExit() tells both. Not after lock():
    // a locked keyring makes it try an unlock prompt, which fails here, and then it may exit
    // (status 0); a restart would unlock what the test locked.
    child.once('exit', (code, signal) => {
      if (stopping) return;
      const how = `gnome-keyring-daemon exited (${signal ?? code}): ${keyring.output(child) || 'it printed nothing'}`;
      crashes.push(how);
      const restart = crashes.length === 1 && !locked;
      process.stderr.write(`# private Secret Service: ${how}${restart ? '; starting it again' : ''}\n`);
      if (restart) {
        daemon = startDaemon().catch((error: unknown) => {
          crashes.push(`restart failed: ${(error as Error).message}`);
          return child;
        });
      }
    });
    return child;
  };
  let daemon: Promise<ChildProcess>;
  try {
    daemon = Promise.resolve(await startDaemon());
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ...session,
    stop,
    daemonExit: () => (crashes.length > 0 ? crashes.join('; then ') : undefined),
    daemonPid: async () => (await daemon).pid,
    async lock() {
      await daemon;
      locked = true;
      await dbusSend(session.env, ['--dest=org.freedesktop.secrets', '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', `array:objpath:${LOGIN_COLLECTION}`]);
      if ((await isLoginLocked(session.env)) !== true) throw new Error('the login keyring did not lock');
    },
  };
}

/** The first line a child prints on stdout (dbus-daemon's address, once it listens). */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    let stderr = '';
    child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
    child.stdout?.on('data', (data: Buffer) => {
      text += data.toString();
      const newline = text.indexOf('\n');
      if (newline !== -1) resolve(text.slice(0, newline).trim());
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`${child.spawnfile} exited (${signal ?? code}) before it was ready: ${stderr.trim()}`)));
  });
}

/** Polls `ready` until it resolves true; fails when `child` exits or time runs out. */
async function waitUntil(ready: () => Promise<boolean>, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`${child.spawnfile} exited (${child.signalCode ?? child.exitCode}) while waiting for ${what}`);
    try {
      if (await ready()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  throw new Error(`timed out after ${READY_TIMEOUT_MS} ms waiting for ${what}`, { cause: lastError });
}

/** The login collection's Locked property; throws while the collection does not exist. */
async function isLoginLocked(env: Readonly<Record<string, string>>): Promise<boolean> {
  const reply = await dbusSend(env, [
    '--dest=org.freedesktop.secrets',
    LOGIN_COLLECTION,
    'org.freedesktop.DBus.Properties.Get',
    'string:org.freedesktop.Secret.Collection',
    'string:Locked',
  ]);
  const match = /boolean (true|false)/.exec(reply);
  if (!match) throw new Error(`unexpected reply from the Secret Service: ${reply}`);
  return match[1] === 'true';
}

async function dbusSend(env: Readonly<Record<string, string>>, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('dbus-send', ['--session', '--print-reply', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: DBUS_CALL_TIMEOUT_MS,
  });
  return stdout;
}

function busConfig(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <!-- All the limits of Debian's /usr/share/dbus-1/session.conf, as a desktop session bus
       has them. dbus-daemon's built-in defaults are far lower (256 connections per user, for
       one), and @napi-rs/keyring opens one
       connection per entry object, held until the object is garbage-collected (a 16 KB value
       is 18 entries), each of them a client gnome-keyring watches. -->
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_incoming_unix_fds">250000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_outgoing_unix_fds">250000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="service_start_timeout">120000</limit>
  <limit name="auth_timeout">240000</limit>
  <limit name="pending_fd_timeout">150000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_pending_service_starts">10000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
`;
}

function isOnPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
