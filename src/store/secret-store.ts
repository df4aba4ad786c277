/**
 * Where secrets live: the OS keychain, the Linux kernel keyring or a private file (the
 * config's "secretStore"), memory in tests.
 *
 * `get` resolves `undefined` when nothing is stored under the account, and rejects
 * with KeychainUnavailableError when the store is locked or unreachable: the two must
 * never look alike ("signed out" and "unlock your keychain" need different advice).
 */
export interface SecretStore {
  /** What keeps the secrets, as /status reports it: "keychain", "kernel", "file", "memory". */
  readonly kind: string;
  /** The same for people, plainly, for `login` and `status`: "the OS keychain", "a file, PATH (…)". */
  readonly description: string;
  get(account: string): Promise<string | undefined>;
  set(account: string, value: string): Promise<void>;
  /** Resolves true when something was deleted. */
  delete(account: string): Promise<boolean>;
}
