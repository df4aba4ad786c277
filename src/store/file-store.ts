import { chmod, lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KeychainEntryCorruptError, KeychainUnavailableError } from '../errors.js';
import { writePrivateFile } from './atomic-file.js';
import type { SecretStore } from './secret-store.js';

/**
 * The SecretStore in plain files ("secretStore": "file"), for machines with no keychain
 * (a headless box, WSL, a container, CI), as the AWS CLI keeps its SSO token cache: one
 * JSON file per account, mode 0600, in a directory of ours, mode 0700. Not encrypted:
 * anyone who can read the user's files (root, a backup, a process running as the user) can
 * read the refresh token; `login` and `status` say so.
 *
 * Each write replaces the file whole (a temp file renamed into place), so readers in other
 * processes see the old value or the new, and two accounts never share a file: no lock is
 * needed beyond the refresh lock the broker already takes around a refresh token's use.
 */
export class FileStore implements SecretStore {
  readonly kind = 'file';
  readonly description: string;
  readonly #dir: string;
  readonly #uid: number | undefined;

  constructor(dir: string, uid: number | undefined = process.getuid?.()) {
    this.#dir = dir;
    this.#uid = uid;
    this.description = `a plain file in ${dir} (mode 0600, not encrypted: readable by you and by root)`;
  }

  /** The file an account's value is kept in. */
  fileFor(account: string): string {
    const name = account.replace(/[^A-Za-z0-9_.-]/gu, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));
    return join(this.#dir, `${name}.json`);
  }

  async get(account: string): Promise<string | undefined> {
    const file = this.fileFor(account);
    const text = await this.#io(async () => {
      await this.#checkDir(false);
      if (!(await this.#checkFile(file))) return undefined;
      // Deleted between the two calls (a logout in another process): nothing stored.
      return readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
    });
    if (text === undefined) return undefined;
    return parseEntry(text, account);
  }

  async set(account: string, value: string): Promise<void> {
    await this.#io(async () => {
      await this.#checkDir(true);
      await writePrivateFile(this.fileFor(account), JSON.stringify({ v: FILE_VERSION, account, value } satisfies FileEntry));
    });
  }

  async delete(account: string): Promise<boolean> {
    const file = this.fileFor(account);
    return this.#io(async () => {
      await this.#checkDir(false);
      if (!(await this.#checkFile(file))) return false;
      await rm(file, { force: true });
      return true;
    });
  }

  /** Any failure of the filesystem becomes KeychainUnavailableError naming the file store. */
  async #io<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof KeychainUnavailableError || error instanceof KeychainEntryCorruptError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new KeychainUnavailableError(`${code} on ${this.#dir}`, { cause: error, store: 'file' });
    }
  }

  /**
   * The directory is a real one (no symlink) of ours, 0700; tightened when looser (nothing but
   * ours belongs in it). Absent: made when writing, nothing to read otherwise.
   */
  async #checkDir(create: boolean): Promise<void> {
    if (create) await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const info = await lstat(this.#dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!info) return;
    if (!info.isDirectory()) throw new KeychainUnavailableError(`${this.#dir} is not a directory (a symbolic link or a file)`, { store: 'file' });
    if (this.#uid === undefined) return;
    if (info.uid !== this.#uid) throw new KeychainUnavailableError(`${this.#dir} belongs to uid ${info.uid}, not to you (uid ${this.#uid})`, { store: 'file' });
    if ((info.mode & 0o077) !== 0) await chmod(this.#dir, 0o700);
  }

  /** False when absent; refuses what is not a plain file of ours; tightens a looser mode to 0600. */
  async #checkFile(file: string): Promise<boolean> {
    const info = await lstat(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!info) return false;
    if (!info.isFile()) throw new KeychainUnavailableError(`${file} is not a plain file`, { store: 'file' });
    if (this.#uid === undefined) return true;
    if (info.uid !== this.#uid) throw new KeychainUnavailableError(`${file} belongs to uid ${info.uid}, not to you (uid ${this.#uid})`, { store: 'file' });
    if ((info.mode & 0o077) !== 0) await chmod(file, 0o600);
    return true;
  }
}

/** The directory under the state directory the file store keeps its files in. */
export const SECRETS_DIR = 'secrets';

const FILE_VERSION = 1;

interface FileEntry {
  v: typeof FILE_VERSION;
  /** The account, again: a file renamed or copied under another name is refused. */
  account: string;
  value: string;
}

function parseEntry(text: string, account: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const entry = parsed as Partial<FileEntry> | undefined;
  if (typeof entry !== 'object' || entry === null || entry.v !== FILE_VERSION || entry.account !== account || typeof entry.value !== 'string') {
    throw new KeychainEntryCorruptError(account, 'the secret file was not written by this version of cognito-broker for this entry; sign in again to rewrite it');
  }
  return entry.value;
}
