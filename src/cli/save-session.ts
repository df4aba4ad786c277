import { setTimeout as sleep } from 'node:timers/promises';
import type { ProfileConfig } from '../config/config.js';
import { isBrokerError, loginCommand } from '../errors.js';
import type { SessionStore, StoredSession } from '../store/session-store.js';
import type { CliIo } from './cli-io.js';

/**
 * The non-interactive way to give the app client's secret, for password and browser login
 * alike: read once at login, then kept in the keychain; never an argument (`ps` shows those).
 */
export const CLIENT_SECRET_ENV = 'COGNITO_BROKER_CLIENT_SECRET';

/**
 * Writing the session to the keychain is tried this many times: a locked keychain is often
 * unlocked within seconds (an unlock prompt answered, a desktop session resuming), and the
 * sign-in, with its password and MFA code, should not have to be done again for that.
 */
export const SAVE_ATTEMPTS = 4;
/** Waits between attempts: 0.5 s, 1 s, 2 s. */
export const SAVE_RETRY_BASE_MS = 500;

/**
 * Stores the session, retrying a keychain that refuses (locked, its service restarting).
 * Every failed attempt is reported; when the last one fails the user is told that the
 * sign-in itself worked, that nothing was stored, and what to do.
 */
export async function saveSession(sessions: SessionStore, profile: ProfileConfig, session: StoredSession, io: CliIo): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await sessions.save(profile, session);
      return;
    } catch (error) {
      const code = isBrokerError(error) ? error.code : 'an unexpected error';
      if (!isBrokerError(error) || !error.retryable || attempt >= SAVE_ATTEMPTS) {
        io.stderr(
          `cognito-broker: signed in as ${session.username}, but the session could not be stored in the OS keychain (${attempt} ${attempt === 1 ? 'attempt' : 'attempts'}, ${code}); nothing was saved. Unlock the keychain, then run ${loginCommand(profile.name)} again.\n`,
        );
        throw error;
      }
      const delayMs = SAVE_RETRY_BASE_MS * 2 ** (attempt - 1);
      io.stderr(`cognito-broker: the OS keychain refused the write (${code}); trying again in ${delayMs / 1000} s (attempt ${attempt + 1} of ${SAVE_ATTEMPTS}).\n`);
      await sleep(delayMs);
    }
  }
}
