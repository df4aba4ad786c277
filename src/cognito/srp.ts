import { createDeviceVerifier, createSrpSession, signSrpSession, signSrpSessionWithDevice } from 'cognito-srp-helper';
import { UpstreamMalformedError } from '../errors.js';

/**
 * Secure Remote Password for Cognito (RFC 5054 3072-bit group, g = 2), on the maintained
 * `cognito-srp-helper`: the password, and a remembered device's password, never leave this
 * machine; the user pool gets SRP_A and a proof.
 *
 * The two rules that are easy to get wrong (shared protocol facts):
 * - the proof is computed with USER_ID_FOR_SRP, the pool's own name for the user, not the
 *   name typed (an email or phone alias); the answer's USERNAME is that name too;
 * - TIMESTAMP is `Sun Nov 2 14:05:09 UTC 2026`: English names, the day not zero-padded,
 *   the time in UTC. We format it ourselves, from our clock, at the moment we answer.
 */
export interface SrpExchange {
  /** The client's public value (hex), sent as SRP_A. */
  readonly srpA: string;
  /**
   * The answer to PASSWORD_VERIFIER (or DEVICE_PASSWORD_VERIFIER) from the challenge's
   * parameters (SALT, SRP_B, SECRET_BLOCK, USER_ID_FOR_SRP / DEVICE_KEY).
   */
  answer(challengeParameters: Readonly<Record<string, string>>): Record<string, string>;
}

/** A remembered device's secrets, as ConfirmDevice registered them. */
export interface DeviceSecrets {
  readonly deviceKey: string;
  readonly deviceGroupKey: string;
  readonly devicePassword: string;
}

type SrpSession = ReturnType<typeof createSrpSession>;

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Cognito's SRP TIMESTAMP, e.g. `Sun Nov 2 14:05:09 UTC 2026` (day not zero-padded). */
export function srpTimestamp(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  return `${WEEKDAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()} ${time} UTC ${d.getUTCFullYear()}`;
}

/** USER_SRP_AUTH: SRP_A for InitiateAuth, then the PASSWORD_VERIFIER answer. */
export function startPasswordSrp(username: string, password: string, userPoolId: string, now: () => number = Date.now): SrpExchange {
  // isHashed false: the library's default (true) expects an already hashed password.
  const session = createSrpSession(username, password, userPoolId, false);
  return {
    srpA: session.largeA,
    answer(parameters) {
      const signed = sign(() => signSrpSession(withTimestamp(session, now), { ChallengeParameters: { ...parameters } }));
      return {
        PASSWORD_CLAIM_SECRET_BLOCK: signed.secret,
        PASSWORD_CLAIM_SIGNATURE: signed.passwordSignature,
        TIMESTAMP: signed.timestamp,
      };
    },
  };
}

/**
 * Device authentication: SRP_A for the DEVICE_SRP_AUTH answer, then the
 * DEVICE_PASSWORD_VERIFIER answer, proven with the device group key and device password.
 */
export function startDeviceSrp(device: DeviceSecrets, userPoolId: string, now: () => number = Date.now): SrpExchange {
  // The "password" of a device session is not used: the device proof takes its own.
  const session = createSrpSession(device.deviceKey, '', userPoolId, true);
  return {
    srpA: session.largeA,
    answer(parameters) {
      // Our own device key when the challenge omits it: it is the one we asked with.
      const challenge = { ChallengeParameters: { DEVICE_KEY: device.deviceKey, ...parameters } };
      const signed = sign(() => signSrpSessionWithDevice(withTimestamp(session, now), challenge, device.deviceGroupKey, device.devicePassword));
      return {
        PASSWORD_CLAIM_SECRET_BLOCK: signed.secret,
        PASSWORD_CLAIM_SIGNATURE: signed.passwordSignature,
        TIMESTAMP: signed.timestamp,
        DEVICE_KEY: device.deviceKey,
      };
    },
  };
}

/**
 * A new device's password and the verifier ConfirmDevice registers for it (salt and
 * g^x mod N, base64): the pool can check device proofs but never learns the password.
 */
export function createDeviceSecrets(deviceKey: string, deviceGroupKey: string): { devicePassword: string; passwordVerifier: string; salt: string } {
  const { DeviceRandomPassword, DeviceSecretVerifierConfig } = createDeviceVerifier(deviceKey, deviceGroupKey);
  const { PasswordVerifier, Salt } = DeviceSecretVerifierConfig;
  if (!PasswordVerifier || !Salt) throw new Error('cognito-srp-helper returned no device verifier');
  return { devicePassword: DeviceRandomPassword, passwordVerifier: PasswordVerifier, salt: Salt };
}

function withTimestamp(session: SrpSession, now: () => number): SrpSession {
  return { ...session, timestamp: srpTimestamp(now()) };
}

/** The library throws on a challenge missing SALT, SRP_B... or a zero SRP_B: the pool's answer is not valid. */
function sign<T>(compute: () => T): T {
  try {
    return compute();
  } catch (error) {
    const what = error instanceof Error ? error.message : 'unknown';
    throw new UpstreamMalformedError(`The user pool's SRP challenge cannot be answered: ${what}.`);
  }
}
