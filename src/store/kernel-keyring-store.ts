import { randomBytes } from 'node:crypto';
import type * as Keyring from '@napi-rs/keyring';
import { KeychainUnavailableError } from '../errors.js';
import { DEFAULT_KEYCHAIN_SERVICE, KeychainStore, type KeyringEntryFactory } from './keychain-store.js';
import type { SecretStore } from './secret-store.js';
import { requireCommonJs } from '../require-commonjs.js';

const { AsyncEntry } = requireCommonJs<typeof Keyring>('@napi-rs/keyring');

/**
 * The SecretStore in the Linux kernel keyring ("secretStore": "kernel"), through
 * @napi-rs/keyring's keyutils store: no D-Bus, no desktop. Each entry is a "user" key added
 * to the session keyring and linked into the user's persistent keyring
 * (keyctl_get_persistent(2)), which outlives the login session: the entry survives logout,
 * not a reboot (the kernel keeps keys in memory only). The persistent keyring expires after
 * /proc/sys/kernel/keys/persistent_keyring_expiry seconds (3 days by default) without a
 * process asking for it; a running daemon asks at every look (every few seconds).
 *
 * It needs a session keyring. A process without one (no PAM login: a container's shell,
 * docker exec, a CI job) is given one per thread on first use, and the threads on which the
 * library works then do not possess the persistent keyring: adding a key fails with
 * AccessDenied, and, worse, a read finds nothing and looks like "signed out". So the first
 * call of a store writes and deletes a probe entry, and an AccessDenied there is reported as
 * KeychainUnavailableError that says to run under `keyctl session`.
 *
 * Values are laid out as in the OS keychain (KeychainStore: an envelope, chunks for long
 * values); a "user" key holds at most 32,767 bytes, above one chunk (8,000 chars, at most
 * 24 KB of UTF-8).
 */
export class KernelKeyringStore implements SecretStore {
  readonly kind = 'kernel';
  readonly description = 'the Linux kernel keyring (kept until this machine reboots; it survives logout)';
  readonly #keyring: KeychainStore;
  #ready: Promise<void> | undefined;

  constructor({ service = DEFAULT_KEYCHAIN_SERVICE, createEntry = createKeyutilsEntry }: KernelKeyringStoreOptions = {}) {
    this.#keyring = new KeychainStore({ service, createEntry, kind: 'kernel', description: this.description });
  }

  async get(account: string): Promise<string | undefined> {
    await this.#probe();
    return this.#keyring.get(account);
  }

  async set(account: string, value: string): Promise<void> {
    await this.#probe();
    return this.#keyring.set(account, value);
  }

  async delete(account: string): Promise<boolean> {
    await this.#probe();
    return this.#keyring.delete(account);
  }

  /** Once per store while it succeeds: can this process keep a key at all? */
  #probe(): Promise<void> {
    this.#ready ??= this.#tryProbe().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #tryProbe(): Promise<void> {
    const account = `${PROBE_ACCOUNT_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
    await this.#keyring.set(account, 'probe');
    const read = await this.#keyring.get(account).finally(() => this.#keyring.delete(account).catch(() => false));
    if (read !== 'probe') throw new KeychainUnavailableError('a key just added could not be read back: this process has no session keyring', { store: 'kernel' });
  }
}

export interface KernelKeyringStoreOptions {
  service?: string;
  /** Where entries come from; the default is the kernel keyring (createKeyutilsEntry). */
  createEntry?: KeyringEntryFactory;
}

/** Probe entries, written and deleted again on a store's first call; no profile is named like this. */
export const PROBE_ACCOUNT_PREFIX = 'probe:';

/** An entry pinned to the kernel keyring (keyutils), never the Secret Service. */
export function createKeyutilsEntry(service: string, account: string): Keyring.AsyncEntry {
  return new AsyncEntry(service, account, { linux: { store: 'keyutils' } });
}
