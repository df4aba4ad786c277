import { randomBytes } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writePrivateFile } from './atomic-file.js';

/** 256 random bits, hex: the master token's value. */
export const ENDPOINT_TOKEN_BYTES = 32;
const TOKEN_FORMAT = /^[0-9a-f]{64}$/;
/** Where the tokens for one profile are kept (`env`, `serve`), under the state directory. */
const SCOPED_DIR = 'tokens';
const ID_TOKEN_SUFFIX = '+id-token';

/**
 * The endpoint's master token, kept in a 0600 file so it survives restarts (shells and
 * long-running tools keep the values derived from it). Written without a trailing newline:
 * the JS SDK and newer botocore send a token file's bytes verbatim and reject a newline.
 * A file others could read is no secret any more: it is replaced by a new token, not just
 * tightened (`replaced` says so, for the log).
 */
export async function loadOrCreateMasterToken(file: string): Promise<{ token: string; replaced: boolean }> {
  const existing = readToken(file);
  const exposed = existing !== undefined && (await readableByOthers(file));
  if (existing && !exposed) return { token: existing, replaced: false };
  return { token: await rotateMasterToken(file), replaced: exposed };
}

/** A new master token in the file: everything derived from the old one stops working. */
export async function rotateMasterToken(file: string): Promise<string> {
  const token = randomBytes(ENDPOINT_TOKEN_BYTES).toString('hex');
  await writePrivateFile(file, token);
  return token;
}

/**
 * The token in the file; undefined when there is none (yet) or it is not one of ours. Read
 * synchronously: a 64-byte file on the fast path of the commands tools run often (the bin),
 * where the first asynchronous read would start libuv's thread pool for it alone.
 */
export function readToken(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return TOKEN_FORMAT.test(text) ? text : undefined;
}

/** readToken, with an unreadable file taken as no token. */
function readTokenQuietly(file: string): string | undefined {
  try {
    return readToken(file);
  } catch {
    return undefined;
  }
}

export async function readableByOthers(file: string): Promise<boolean> {
  // Windows has no mode bits: its per-user profile directories are private already.
  if (process.platform === 'win32') return false;
  return ((await stat(file)).mode & 0o077) !== 0;
}

/** A token that opens one profile (see EndpointAuth), kept for the SDKs that read a token file. */
export interface ScopedTokenFile {
  readonly file: string;
  readonly profile: string;
  readonly idToken: boolean;
}

export function scopedTokenFile(stateDir: string, profile: string, idToken: boolean): string {
  return join(stateDir, SCOPED_DIR, `${profile}${idToken ? ID_TOKEN_SUFFIX : ''}`);
}

/** Writes `token` to `file` (0600, atomically) unless it holds it already: `env` runs in every new shell. */
export async function writeTokenFile(file: string, token: string): Promise<void> {
  if (readTokenQuietly(file) === token && !(await readableByOthers(file))) return;
  await writePrivateFile(file, token);
}

/** The profile token files written so far, to rewrite when the master is rotated. */
export async function listScopedTokenFiles(stateDir: string): Promise<ScopedTokenFile[]> {
  const dir = join(stateDir, SCOPED_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((name) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(\+id-token)?$/.test(name))
    .map((name) => {
      const idToken = name.endsWith(ID_TOKEN_SUFFIX);
      return { file: join(dir, name), profile: idToken ? name.slice(0, -ID_TOKEN_SUFFIX.length) : name, idToken };
    });
}

/** How often a running daemon looks at its token file (a rotation, a loosened mode). */
export const TOKEN_FILE_POLL_MS = 2_000;

export type MasterTokenChange = 'rotated' | 'exposed' | 'restored';

/**
 * Follows the master token file while the daemon runs: a new token in it (a rotation) is
 * taken up; a file that became readable by others gets a new token ("exposed"); a deleted
 * file is written again with the current token ("restored"). Returns the function that stops.
 */
export function watchMasterToken(file: string, current: () => string, onChange: (token: string, change: MasterTokenChange) => void, intervalMs = TOKEN_FILE_POLL_MS): () => void {
  let checking = false;
  const check = async () => {
    const token = readToken(file);
    if (token === undefined) {
      await writePrivateFile(file, current());
      onChange(current(), 'restored');
    } else if (await readableByOthers(file)) {
      onChange(await rotateMasterToken(file), 'exposed');
    } else if (token !== current()) {
      onChange(token, 'rotated');
    }
  };
  const listener = () => {
    if (checking) return;
    checking = true;
    void check().catch(() => undefined).finally(() => (checking = false));
  };
  watchFile(file, { interval: intervalMs, persistent: false }, listener);
  return () => unwatchFile(file, listener);
}
