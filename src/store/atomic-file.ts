import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * A temp file this old is left over from a process killed mid-write (it may hold a secret):
 * the next write removes it. Younger ones may belong to a write still under way.
 */
export const STALE_TEMP_MS = 60_000;

/**
 * Writes a file only its owner can read (0600, in a 0700 directory), all at once: a temp
 * file renamed into place, so a crash leaves the old file or the new, never half of one.
 */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await removeStaleTemps(file);
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, content, { mode: 0o600, flag: 'wx' });
    // mode on create is masked by the umask; chmod makes it exact.
    await chmod(temp, 0o600);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function removeStaleTemps(file: string, now = Date.now()): Promise<void> {
  const dir = dirname(file);
  const prefix = `${basename(file)}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length))) continue;
    const path = join(dir, name);
    const stat = await lstat(path).catch(() => undefined);
    if (stat?.isFile() && now - stat.mtimeMs > STALE_TEMP_MS) await rm(path, { force: true });
  }
}
