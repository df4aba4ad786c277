/**
 * Where secrets live: the OS keychain in production, memory in tests.
 *
 * `get` resolves `undefined` when nothing is stored under the account, and rejects
 * with KeychainUnavailableError when the store is locked or unreachable: the two must
 * never look alike ("signed out" and "unlock your keychain" need different advice).
 */
export interface SecretStore {
  /** What keeps the secrets, as `status` names it: "keychain", "memory", … */
  readonly kind: string;
  get(account: string): Promise<string | undefined>;
  set(account: string, value: string): Promise<void>;
  /** Resolves true when something was deleted. */
  delete(account: string): Promise<boolean>;
}
