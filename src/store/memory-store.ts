import { KeychainUnavailableError } from '../errors.js';
import type { SecretStore } from './secret-store.js';

/**
 * A SecretStore in a Map, for tests and for runs that must not touch the OS keychain.
 *
 * Set `available = false` to make every call reject with KeychainUnavailableError, as a
 * keychain that gets locked mid-run does; set it back to `true` to "unlock" it. The
 * entries survive the switch, as they do in a real keychain.
 */
export class MemoryStore implements SecretStore {
  readonly kind = 'memory';
  readonly description = 'memory (this process only)';
  available = true;
  readonly #entries: Map<string, string>;

  constructor(entries?: Iterable<readonly [string, string]>) {
    this.#entries = new Map(entries);
  }

  async get(account: string): Promise<string | undefined> {
    this.#assertAvailable();
    return this.#entries.get(account);
  }

  async set(account: string, value: string): Promise<void> {
    this.#assertAvailable();
    this.#entries.set(account, value);
  }

  async delete(account: string): Promise<boolean> {
    this.#assertAvailable();
    return this.#entries.delete(account);
  }

  #assertAvailable(): void {
    if (!this.available) throw new KeychainUnavailableError('the in-memory store is set unavailable');
  }
}
