import { KeychainStore } from '../store/keychain-store.js';

/**
 * The OS keychain. COGNITO_BROKER_KEYCHAIN_SERVICE names the keychain service, so the demo
 * and the tests keep their entries apart from a real sign-in.
 */
export function openKeychain(env: NodeJS.ProcessEnv = process.env): KeychainStore {
  return new KeychainStore({ service: env.COGNITO_BROKER_KEYCHAIN_SERVICE || 'cognito-broker' });
}
