import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { ConfigInvalidError } from '../errors.js';
import { FileStore, SECRETS_DIR } from '../store/file-store.js';
import { KernelKeyringStore } from '../store/kernel-keyring-store.js';
import { KeychainStore } from '../store/keychain-store.js';
import type { SecretStore } from '../store/secret-store.js';

/**
 * The store the config's "secretStore" names: the OS keychain (default), the Linux kernel
 * keyring, or 0600 files under the state directory. COGNITO_BROKER_KEYCHAIN_SERVICE names the
 * keychain service (keyrings only), so the demo and the tests keep their entries apart from a
 * real sign-in; the file store is apart already, in the state directory.
 */
export function openSecretStore(
  config: Pick<Config, 'file' | 'secretStore' | 'stateDir'>,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): SecretStore {
  const service = env.COGNITO_BROKER_KEYCHAIN_SERVICE || 'cognito-broker';
  switch (config.secretStore) {
    case 'file':
      return new FileStore(join(config.stateDir, SECRETS_DIR));
    case 'kernel':
      if (platform !== 'linux') {
        throw new ConfigInvalidError(config.file, [{ path: '$.secretStore', expected: `"keychain" or "file" on ${platform} (the kernel keyring is Linux only)` }]);
      }
      return new KernelKeyringStore({ service });
    default:
      return new KeychainStore({ service });
  }
}
