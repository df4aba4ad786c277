import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { platformPaths, resolveConfigFile } from '../config/platform-paths.js';
import { DAEMON_FILE, DAEMON_SOCKET, type DaemonInfo, readDaemonInfo } from '../store/daemon-file.js';
import { isOwnSocket } from '../store/private-paths.js';
import type { CommandOptions } from './cli-context.js';

/** The daemon daemon.json announces, for a command whose config file it serves. */
export interface AnnouncedDaemon {
  readonly info: DaemonInfo;
  /** The state directory whose daemon.json named it. */
  readonly stateDir: string;
  /** The config file the command uses (its path as given, which the daemon serves too). */
  readonly file: string;
  /** The profile asked for, or the daemon's default. */
  readonly profile: string;
}

/**
 * The daemon `serve` announced in daemon.json, when it serves this very config file (by its
 * path, as --config, COGNITO_BROKER_CONFIG or the default name it), the file has not changed
 * since the daemon started, and it serves the profile. Its token file and default profile are
 * then the config's: the commands' fast path, before the config is even parsed. Undefined
 * when that cannot be told this way (the caller loads the config, and looks again).
 * Whether the daemon is this user's is the caller's to check, before it sends a token.
 */
export function announcedDaemon(options: CommandOptions): AnnouncedDaemon | undefined {
  const paths = platformPaths();
  const file = resolveConfigFile({ flag: options.config, paths });
  const info = readDaemonInfo(join(paths.stateDir, DAEMON_FILE));
  if (!isDaemonInfo(info) || info.config === undefined || !isAlive(info.pid) || !sameFile(info.config, file)) return undefined;
  if (!(Date.parse(info.startedAt) >= modifiedAt(file))) return undefined;
  const profile = options.profile ?? info.defaultProfile;
  // A profile it does not serve: unknown to the config too, or added since; the config says which.
  if (!info.profiles.includes(profile)) return undefined;
  return { info, stateDir: paths.stateDir, file, profile };
}

/**
 * The daemon's command socket, when a command may send it a token: the one in the state
 * directory whose daemon.json names it (daemon.json says only that there is one), this
 * user's, in a directory no other user may write (isOwnSocket). Only this user could have
 * made it there, so only this user's daemon listens on it. Undefined otherwise (loopback TCP).
 */
export function commandSocketOf(info: DaemonInfo, stateDir: string): string | undefined {
  const path = join(stateDir, DAEMON_SOCKET);
  return info.socket === path && isOwnSocket(path) ? path : undefined;
}

/** The URL of a profile's route: the default profile's at /credentials, the others' under /profiles/. */
export function profileUrl(baseUrl: string, profile: string, defaultProfile: string, what: 'credentials' | 'token'): string {
  return profile === defaultProfile ? `${baseUrl}/${what}` : `${baseUrl}/profiles/${encodeURIComponent(profile)}/${what}`;
}

/** daemon.json as serve writes it; anything else (a stale or hand-edited file) means no daemon. */
export function isDaemonInfo(info: DaemonInfo | undefined): info is DaemonInfo {
  return (
    typeof info === 'object' && info !== null &&
    Number.isSafeInteger(info.pid) && info.pid > 0 &&
    typeof info.url === 'string' && /^http:\/\//.test(info.url) && URL.canParse(info.url) &&
    (info.socket === undefined || typeof info.socket === 'string') &&
    typeof info.tokenFile === 'string' && typeof info.defaultProfile === 'string' &&
    (info.config === undefined || typeof info.config === 'string') &&
    Array.isArray(info.profiles) && info.profiles.every((p) => typeof p === 'string')
  );
}

/**
 * Whether a process with this pid exists: signal 0, which EPERM answers for a process of
 * another user (it exists; whether it is our daemon, only the proof tells).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** When the file last changed; NaN (which compares false: changed) when that cannot be read. */
function modifiedAt(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return Number.NaN;
  }
}

/** The same file, also when one path goes through a symbolic link (~/.config → elsewhere). */
export function sameFile(a: string, b: string): boolean {
  if (a === b) return true;
  const real = (path: string) => {
    try {
      return realpathSync(path);
    } catch {
      return path;
    }
  };
  return real(a) === real(b);
}
