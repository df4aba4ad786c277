import { randomBytes } from 'node:crypto';
import type * as Keyring from '@napi-rs/keyring';
import { KeychainUnavailableError, KeychainEntryCorruptError, type SecretStoreChoice } from '../errors.js';
import type { SecretStore } from './secret-store.js';
import { requireCommonJs } from '../require-commonjs.js';

const { AsyncEntry } = requireCommonJs<typeof Keyring>('@napi-rs/keyring');

/**
 * The SecretStore backed by the OS keychain (macOS Keychain, Windows Credential Manager,
 * the Secret Service on Linux) through @napi-rs/keyring.
 *
 * Layout of one stored value under `account`:
 * - the head entry, always under `account` itself, is a small JSON envelope:
 *   `{"v":1,"value":"..."}` for a value that fits in one entry (inline), or
 *   `{"v":1,"gen":"<id>","n":3}` for a value split into chunks;
 * - chunk i of a split value lives under `${account}#${gen}#${i}`.
 *
 * Why chunks: Windows Credential Manager caps one credential at 2,560 bytes and keyring-rs
 * stores the password there as UTF-16 (2 bytes per JS char), while a session with its
 * ID, access and refresh tokens is several KB. So no entry ever holds more than
 * maxEntryChars(platform) UTF-16 code units: 1,000 on Windows (2,000 bytes). Elsewhere
 * the limit is 8,000 (at most 24 KB of UTF-8, under the kernel keyring's 32 KB per key),
 * so a session fits in one entry: every chunk costs a keychain call, and every call on
 * Linux a D-Bus session (see "one call at a time" below). The layout and the code path
 * are the same everywhere; only the size differs.
 *
 * Why generations: a write must never leave a half-written value behind, even when the
 * process is killed (kill -9, laptop power loss) in the middle of it. `set` writes the new
 * chunks under a fresh generation id first, while the head still points at the old,
 * complete chunks; then it replaces the head (one keychain write, which switches readers
 * from the old value to the new one); only then does it delete the old chunks. A crash
 * at any point leaves the old or the new value complete and readable; at worst it leaves
 * unreferenced chunks behind (never read again; a few KB in the same keychain).
 *
 * Why one call at a time: each call of keyring-rs opens its own D-Bus connection and
 * Secret Service session and drops it when done. gnome-keyring-daemon aborts (GLib-ERROR
 * "g_variant_new: expected GVariant of type 'v' but received value has type '(null)'",
 * an upstream race on clients that come and go) when a burst of such sessions arrives at
 * once, which parallel chunk reads and deletes were: reproduced with gnome-keyring 42 under
 * load, and reported against gnome-keyring 50 by other tools. The user's keyring dies with
 * every secret in it, not just ours, so calls are queued, and the cost (a few ms per chunk)
 * is paid only by values too big for one entry.
 *
 * Account names containing `#` followed by a generation id are reserved for chunks.
 */
export class KeychainStore implements SecretStore {
  readonly kind: SecretStoreChoice;
  readonly description: string;
  readonly #service: string;
  readonly #createEntry: KeyringEntryFactory;
  readonly #maxEntryChars: number;
  /** The tail of the queue of native calls (see "one call at a time" above). */
  #lastCall: Promise<unknown> = Promise.resolve();

  constructor({
    service = DEFAULT_KEYCHAIN_SERVICE,
    createEntry = createPinnedEntry,
    kind = 'keychain',
    description = 'the OS keychain',
    maxEntryChars: max = maxEntryChars(process.platform),
  }: KeychainStoreOptions = {}) {
    this.#service = service;
    this.#createEntry = createEntry;
    this.#maxEntryChars = max;
    this.kind = kind;
    this.description = description;
  }

  async get(account: string): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const raw = await this.#read(account);
      if (raw === null) return undefined;
      const head = parseHead(raw, account);
      if ('value' in head) return head.value;

      const parts = await Promise.all(chunkAccounts(account, head).map((a) => this.#read(a)));
      const missing = parts.findIndex((part) => part === null);
      if (missing === -1) return parts.join('');

      // A writer in another process may have replaced the value between our two reads
      // (it deletes the old chunks right after writing the new head): read again.
      if (attempt < MAX_READ_ATTEMPTS && (await this.#read(account)) !== raw) continue;
      throw new KeychainEntryCorruptError(
        account,
        `the keychain entry is incomplete: chunk ${missing + 1} of ${head.n} is missing; sign in again to rewrite it`,
      );
    }
  }

  async set(account: string, value: string): Promise<void> {
    const previous = await this.#readChunkedHead(account);

    const inline = JSON.stringify({ v: HEAD_VERSION, value } satisfies InlineHead);
    if (inline.length <= this.#maxEntryChars) {
      await this.#write(account, inline);
    } else {
      const chunks = splitValue(value, this.#maxEntryChars);
      const head: ChunkedHead = { v: HEAD_VERSION, gen: newGeneration(), n: chunks.length };
      await this.#writeChunks(account, head, chunks);
      await this.#write(account, JSON.stringify(head)).catch(async (error: unknown) => {
        await this.#discardGeneration(account, head);
        throw error;
      });
    }

    // The new value is stored: an old chunk that cannot be deleted now stays behind,
    // unreferenced, rather than failing a write that succeeded.
    if (previous) await this.#deleteChunks(account, previous).catch(() => undefined);
  }

  async delete(account: string): Promise<boolean> {
    const raw = await this.#read(account);
    if (raw === null) return false;
    // Chunks first, the head last: when this is interrupted, the head still names every
    // chunk, get reports the entry as incomplete, and running delete again finishes the
    // job. Deleting the head first would leave the chunks, secret and all, for good.
    const head = tryParseHead(raw);
    if (head && 'gen' in head) await this.#deleteChunks(account, head);
    return this.#remove(account);
  }

  /** The current head when it points at chunks; undefined when absent, inline or unreadable. */
  async #readChunkedHead(account: string): Promise<ChunkedHead | undefined> {
    const raw = await this.#read(account);
    const head = raw === null ? undefined : tryParseHead(raw);
    return head && 'gen' in head ? head : undefined;
  }

  /** All chunks, or none: when one write fails, the ones that succeeded are removed again. */
  async #writeChunks(account: string, head: ChunkedHead, chunks: readonly string[]): Promise<void> {
    const results = await Promise.allSettled(chunks.map((chunk, i) => this.#write(chunkAccount(account, head.gen, i), chunk)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failure) return;
    await this.#discardGeneration(account, head);
    throw failure.reason;
  }

  /**
   * Best effort, after a failed write: deletes the chunks of `head`'s generation unless
   * the stored head points at them. A write reported as failed may still have reached
   * the keychain (the reply was lost), so the head is read again before anything goes.
   */
  async #discardGeneration(account: string, head: ChunkedHead): Promise<void> {
    try {
      if ((await this.#readChunkedHead(account))?.gen !== head.gen) await this.#deleteChunks(account, head);
    } catch {
      // The keychain is failing; the chunks stay behind, unreferenced and harmless.
    }
  }

  async #deleteChunks(account: string, head: ChunkedHead): Promise<void> {
    await Promise.all(chunkAccounts(account, head).map((a) => this.#remove(a)));
  }

  #read(account: string): Promise<string | null> {
    return this.#call(account, (entry) => entry.getPassword());
  }

  #write(account: string, value: string): Promise<void> {
    return this.#call(account, (entry) => entry.setPassword(value));
  }

  #remove(account: string): Promise<boolean> {
    return this.#call(account, (entry) => entry.deleteCredential());
  }

  /** Runs one native call after the ones before it; a failure becomes KeychainUnavailableError. */
  #call<T>(account: string, op: (entry: KeyringEntry) => Promise<T>): Promise<T> {
    const call = this.#lastCall.then(() => this.#callNow(account, op));
    this.#lastCall = call.catch(() => undefined);
    return call;
  }

  async #callNow<T>(account: string, op: (entry: KeyringEntry) => Promise<T>): Promise<T> {
    try {
      // Inside the try: the constructor already talks to the store and throws when, for
      // example, there is no D-Bus.
      return await op(this.#createEntry(this.#service, account));
    } catch (error) {
      throw new KeychainUnavailableError(describeKeyringFailure(error, this.kind), { cause: error, store: this.kind });
    }
  }
}

/** The slice of @napi-rs/keyring's AsyncEntry that KeychainStore uses. */
export interface KeyringEntry {
  getPassword(): Promise<string | null>;
  setPassword(password: string): Promise<void>;
  deleteCredential(): Promise<boolean>;
}

export type KeyringEntryFactory = (service: string, account: string) => KeyringEntry;

export interface KeychainStoreOptions {
  /** The keychain service name every entry is filed under. */
  service?: string;
  /** Where entries come from; the default is the OS keychain (see createPinnedEntry). */
  createEntry?: KeyringEntryFactory;
  /** Which keyring the entries are in, for errors and /status (default: the OS keychain). */
  kind?: Extract<SecretStoreChoice, 'keychain' | 'kernel'>;
  /** How `login` and `status` name it. */
  description?: string;
  /** Most UTF-16 code units in one entry (default: maxEntryChars of this platform). */
  maxEntryChars?: number;
}

export const DEFAULT_KEYCHAIN_SERVICE = 'cognito-broker';

/**
 * Most UTF-16 code units in one keychain entry on `platform`. Windows Credential Manager's
 * limit is 2,560 bytes per credential (CRED_MAX_CREDENTIAL_BLOB_SIZE) and keyring-rs stores
 * UTF-16 there: 1,000 units are 2,000 bytes, which leaves room for any overhead. Elsewhere
 * (see the class comment) 8,000.
 */
export function maxEntryChars(platform: NodeJS.Platform): number {
  return platform === 'win32' ? 1000 : 8000;
}

/**
 * An entry in the OS keychain. On Linux it is pinned to the Secret Service: unpinned,
 * keyring-rs silently falls back to the kernel keyring when the Secret Service is
 * missing, which holds secrets in memory only and loses them at reboot. The option is
 * ignored on other platforms.
 *
 * On Linux each entry object opens its own D-Bus connection, which lasts until the object
 * is garbage-collected; KeychainStore keeps no entry objects between calls.
 */
export function createPinnedEntry(service: string, account: string): KeyringEntry {
  return new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
}

const HEAD_VERSION = 1;
const MAX_READ_ATTEMPTS = 3;

interface InlineHead {
  v: typeof HEAD_VERSION;
  value: string;
}

interface ChunkedHead {
  v: typeof HEAD_VERSION;
  /** Generation id, fresh for every write of a chunked value. */
  gen: string;
  /** Number of chunks. */
  n: number;
}

type Head = InlineHead | ChunkedHead;

function parseHead(raw: string, account: string): Head {
  const head = tryParseHead(raw);
  if (!head) throw new KeychainEntryCorruptError(account, 'the keychain entry was not written by this version of cognito-broker');
  return head;
}

function tryParseHead(raw: string): Head | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const head = parsed as Record<string, unknown>;
  if (head.v !== HEAD_VERSION) return undefined;
  if (typeof head.value === 'string') return { v: HEAD_VERSION, value: head.value };
  if (typeof head.gen === 'string' && /^[0-9a-f]{1,64}$/.test(head.gen) && Number.isSafeInteger(head.n) && (head.n as number) > 0) {
    return { v: HEAD_VERSION, gen: head.gen, n: head.n as number };
  }
  return undefined;
}

function chunkAccounts(account: string, head: ChunkedHead): string[] {
  return Array.from({ length: head.n }, (_, i) => chunkAccount(account, head.gen, i));
}

function chunkAccount(account: string, gen: string, index: number): string {
  return `${account}#${gen}#${index}`;
}

function newGeneration(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Splits `value` into pieces of at most `max` UTF-16 code units, never between the two
 * halves of a surrogate pair: each piece crosses into Rust as UTF-8, where a lone
 * surrogate would turn into U+FFFD and the value would come back changed.
 */
export function splitValue(value: string, max: number): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < value.length; ) {
    let end = Math.min(start + max, value.length);
    if (end < value.length && isHighSurrogate(value.charCodeAt(end - 1))) end -= 1;
    chunks.push(value.slice(start, end));
    start = end;
  }
  return chunks;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * A short cause for KeychainUnavailableError. The native messages (seen from
 * @napi-rs/keyring 2.1 against gnome-keyring 42) never contain the secret, but only the
 * message is used, never the password handed in.
 */
export function describeKeyringFailure(error: unknown, kind: SecretStoreChoice = 'keychain'): string {
  const message = error instanceof Error ? error.message : String(error);
  // "Secret Service: unlock prompt was dismissed": the collection is locked and the
  // unlock prompt was refused (or there is no prompter, as over SSH).
  if (/unlock prompt|\blocked\b/i.test(message)) return 'the keyring is locked';
  // "The name org.freedesktop.secrets was not provided by any .service files"
  if (/org\.freedesktop\.secrets|ServiceUnknown|\.service files/i.test(message)) return 'no Secret Service on the session D-Bus';
  // "Failed to connect to socket ...", "Using X11 for dbus-daemon autolaunch was disabled
  // ..., set your DBUS_SESSION_BUS_ADDRESS instead", "Address does not contain a colon"
  if (/DBus error|D-Bus|DBUS_SESSION_BUS_ADDRESS/i.test(message)) return 'cannot connect to the session D-Bus';
  // keyutils: "Couldn't access platform storage: AccessDenied" (EACCES) when the key cannot be
  // linked into the persistent keyring: the calling thread possesses no session keyring.
  if (kind === 'kernel' && /AccessDenied/.test(message)) return 'the kernel refused access: this process has no session keyring';
  return `keychain call failed: ${firstLine(message)}`;
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
