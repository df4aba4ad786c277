import { chmodSync, lstatSync, statSync } from 'node:fs';
import { chmod, lstat, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InsecurePathError } from '../errors.js';

/** Mode bits for "group or others may write". */
const WRITABLE_BY_OTHERS = 0o022;

export interface PrivatePaths {
  /** The daemon's own directory (…/cognito-broker): made 0700, tightened if looser. */
  readonly stateDir: string;
  /** server.tokenFile, possibly elsewhere. */
  readonly tokenFile: string;
}

export interface PathCheckResult {
  /** Directories whose mode was tightened to 0700, to report in the log. */
  readonly tightened: readonly string[];
}

/**
 * Before serve reads or writes the token: its state directory is 0700 and ours, and the
 * token file is somewhere no other user can read it, replace it or plant one of their own
 * (a token another user chose would let them call the endpoint). POSIX only: Windows has no
 * mode bits, and its per-user profile directories are private already.
 */
export async function securePrivatePaths(paths: PrivatePaths, uid: number | undefined = process.getuid?.()): Promise<PathCheckResult> {
  if (uid === undefined) return { tightened: [] };
  const tightened: string[] = [];
  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  const state = await stat(paths.stateDir);
  if (!state.isDirectory()) throw new InsecurePathError(paths.stateDir, 'the state directory is not a directory');
  if (state.uid !== uid) throw new InsecurePathError(paths.stateDir, `the state directory belongs to uid ${state.uid}, not to you (uid ${uid})`);
  if ((state.mode & 0o077) !== 0) {
    // Our own directory (…/cognito-broker): nothing else belongs in it, so tightening is safe.
    await chmod(paths.stateDir, 0o700);
    tightened.push(paths.stateDir);
  }

  const dir = dirname(paths.tokenFile);
  // stat, not lstat: a directory reached through a symlink (~/.local/state → elsewhere) is fine.
  const dirInfo = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined; // created 0700 when the token is written
    throw error;
  });
  if (dirInfo) {
    if (dirInfo.uid !== uid && dirInfo.uid !== 0) throw new InsecurePathError(paths.tokenFile, `its directory belongs to uid ${dirInfo.uid}, not to you`);
    // A directory others may write, even a sticky one like /tmp, lets another user create the
    // file first with a token of their choosing, or swap it.
    if ((dirInfo.mode & WRITABLE_BY_OTHERS) !== 0) throw new InsecurePathError(paths.tokenFile, `its directory ${dir} is writable by other users`);
  }
  const file = await lstat(paths.tokenFile).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (file) {
    if (!file.isFile()) throw new InsecurePathError(paths.tokenFile, 'it is not a plain file (a symbolic link, directory or device)');
    if (file.uid !== uid) throw new InsecurePathError(paths.tokenFile, `it belongs to uid ${file.uid}, not to you`);
  }
  return { tightened };
}

/**
 * A real directory (no symlink) of ours, made 0700 if it was looser (only for directories
 * that are ours alone, such as …/cognito-broker); on Windows the profile's ACLs apply.
 */
export function ownPrivateDir(dir: string, uid: number | undefined = process.getuid?.()): boolean {
  const info = lstatSync(dir);
  if (!info.isDirectory()) return false;
  if (uid === undefined) return true;
  if (info.uid !== uid) return false;
  if ((info.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return true;
}

/**
 * A socket this user created, in a directory no other user may write: whoever listens on it
 * is this user's (only root could have put another's there). The directory matters because
 * another user who may write it could swap the socket between this check and the connect.
 * False wherever that cannot be told (no uids: Windows). Synchronous, like the other reads on
 * the commands' fast path (readToken).
 */
export function isOwnSocket(path: string, uid: number | undefined = process.getuid?.()): boolean {
  if (uid === undefined) return false;
  try {
    const socket = lstatSync(path);
    const dir = statSync(dirname(path));
    return socket.isSocket() && socket.uid === uid && dir.isDirectory() && dir.uid === uid && (dir.mode & WRITABLE_BY_OTHERS) === 0;
  } catch {
    return false;
  }
}
