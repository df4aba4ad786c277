/**
 * Locks and unlocks the private Secret Service of a test (testkit/secret-service.ts)
 * while a broker uses it.
 *
 * Locking is the Secret Service's own Lock call. Unlocking cannot be done the same way:
 * Unlock answers with a prompt, and a private session bus has no prompter. So an unlock
 * replaces the gnome-keyring daemon by one started with --unlock, which reads the keyring
 * password on stdin (as at a desktop login) and opens the same keyring files unlocked. To
 * a client this is a keychain that was locked and then unlocked: same bus name, same items.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ChildGroup } from '../../testkit/children.js';
import type { SecretService } from '../../testkit/secret-service.js';

const run = promisify(execFile);
/** startSecretService's default keyring password. */
const KEYRING_PASSWORD = 'test-keyring-password';
const LOGIN_COLLECTION = '/org/freedesktop/secrets/collection/login';
const UNLOCK_TIMEOUT_MS = 10_000;

export interface KeychainControl {
  lock(): Promise<void>;
  unlock(): Promise<void>;
  isLocked(): Promise<boolean>;
  /** Stops the daemons unlock() started (before the Secret Service itself is stopped). */
  stop(): Promise<void>;
}

export function keychainControl(secretService: SecretService): KeychainControl {
  const daemons = new ChildGroup();
  const env = { PATH: process.env.PATH ?? '', ...secretService.env };
  const isLocked = async (): Promise<boolean> => {
    const { stdout } = await run('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.secrets', LOGIN_COLLECTION, 'org.freedesktop.DBus.Properties.Get', 'string:org.freedesktop.Secret.Collection', 'string:Locked'], { env, timeout: 5000 });
    return /boolean true/.test(stdout);
  };
  return {
    lock: () => secretService.lock(),
    isLocked,
    async unlock() {
      const daemon = daemons.spawn('gnome-keyring-daemon', ['--replace', '--foreground', '--unlock', '--components=secrets'], { env });
      daemon.stdin?.end(KEYRING_PASSWORD);
      const deadline = Date.now() + UNLOCK_TIMEOUT_MS;
      for (;;) {
        // While the new daemon takes the bus name over, the call may fail: ask again.
        if (!(await isLocked().catch(() => true))) return;
        if (Date.now() > deadline) throw new Error(`the keyring did not unlock within ${UNLOCK_TIMEOUT_MS} ms: ${daemons.output(daemon)}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    stop: () => daemons.stopAll(),
  };
}
