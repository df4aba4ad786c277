/**
 * The server side of Cognito's SRP-6a, on node:crypto and BigInt, for the user pool emulator.
 *
 * Cognito's variant (as amazon-cognito-identity-js and cognito-srp-helper compute it):
 *   N, g      RFC 5054 3072-bit group, g = 2; k = H(padHex(N) | padHex(g))
 *   x         H(padHex(salt) | H(poolName | userIdForSrp | ":" | password)), poolName = pool id after "_"
 *             (devices: H(padHex(salt) | H(deviceGroupKey | deviceKey | ":" | randomPassword)))
 *   v = g^x,  B = k·v + g^b,  u = H(padHex(A) | padHex(B)),  S = (A·v^u)^b
 *   key       HKDF-SHA256(ikm = padHex(S), salt = padHex(u), info = "Caldera Derived Key"), 16 bytes
 *   claim     base64 HMAC-SHA256(key, poolName | userIdForSrp | SECRET_BLOCK bytes | TIMESTAMP)
 *             (devices: deviceGroupKey | deviceKey | SECRET_BLOCK bytes | TIMESTAMP)
 * H is SHA-256 over the bytes a hex string encodes; padHex is the even-length two's-complement
 * hex of Java's BigInteger.toByteArray (a leading 00 when the top bit is set).
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

// RFC 5054 appendix A, 3072-bit group.
const N_HEX =
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF';
export const SRP_N = BigInt(`0x${N_HEX}`);
export const SRP_G = 2n;
export const SRP_K = BigInt(`0x${hexHash(padHex(SRP_N) + padHex(SRP_G))}`);
const DERIVED_KEY_INFO = Buffer.from('Caldera Derived Key', 'utf8');
const DERIVED_KEY_BYTES = 16;
const SALT_BYTES = 16;
const SERVER_SECRET_BYTES = 32;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
// `Sun Nov 2 14:05:09 UTC 2026`: day of month not zero-padded, 24-hour clock.
const TIMESTAMP_PATTERN = /^([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):([0-5]\d):([0-5]\d) UTC (\d{4})$/;

/** A verifier and its salt, as the server stores them for a password or a device. */
export interface SrpVerifier {
  /** padHex of the salt: what goes out as the SALT challenge parameter. */
  saltHex: string;
  verifier: bigint;
}

/** One exchange's server secret b and public B. */
export interface SrpExchange {
  b: bigint;
  B: bigint;
  verifier: bigint;
}

export function padHex(value: bigint): string {
  if (value < 0n) throw new RangeError('padHex takes non-negative values only');
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return /^[89a-f]/i.test(hex) ? `00${hex}` : hex;
}

/** SHA-256 over the bytes a hex string encodes, as hex. */
export function hexHash(hex: string): string {
  return createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
}

function stringHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

function verifierFor(saltHex: string, identityHash: string): bigint {
  const x = BigInt(`0x${hexHash(saltHex + identityHash)}`);
  return modPow(SRP_G, x, SRP_N);
}

/** The verifier a user pool keeps for a password (it never keeps the password itself). */
export function createPasswordVerifier(poolName: string, userIdForSrp: string, password: string): SrpVerifier {
  const saltHex = padHex(BigInt(`0x${randomBytes(SALT_BYTES).toString('hex')}`));
  return { saltHex, verifier: verifierFor(saltHex, stringHash(`${poolName}${userIdForSrp}:${password}`)) };
}

/** ConfirmDevice's DeviceSecretVerifierConfig: both fields are base64 of padHex bytes. */
export function deviceVerifierFromConfig(passwordVerifierBase64: string, saltBase64: string): SrpVerifier | undefined {
  const verifierBytes = Buffer.from(passwordVerifierBase64, 'base64');
  const saltBytes = Buffer.from(saltBase64, 'base64');
  if (verifierBytes.length === 0 || saltBytes.length === 0) return undefined;
  const verifier = BigInt(`0x${verifierBytes.toString('hex')}`);
  if (verifier % SRP_N === 0n) return undefined;
  return { saltHex: saltBytes.toString('hex'), verifier };
}

/** Client-side counterpart for tests that build a device verifier without the helper library. */
export function createDeviceVerifier(deviceGroupKey: string, deviceKey: string, randomPassword: string): SrpVerifier {
  const saltHex = padHex(BigInt(`0x${randomBytes(SALT_BYTES).toString('hex')}`));
  return { saltHex, verifier: verifierFor(saltHex, stringHash(`${deviceGroupKey}${deviceKey}:${randomPassword}`)) };
}

export function startSrpExchange(verifier: bigint): SrpExchange {
  for (;;) {
    const b = BigInt(`0x${randomBytes(SERVER_SECRET_BYTES).toString('hex')}`);
    const B = (SRP_K * verifier + modPow(SRP_G, b, SRP_N)) % SRP_N;
    if (B !== 0n) return { b, B, verifier };
  }
}

/** Whether SRP_A is a hex number the exchange can start with (not a multiple of N). */
export function isValidSrpA(hex: string): boolean {
  return /^[0-9a-fA-F]{1,1024}$/.test(hex) && BigInt(`0x${hex}`) % SRP_N !== 0n;
}

/**
 * The 16-byte key both sides derive, or undefined for an A the protocol must refuse
 * (A ≡ 0 mod N, or u = 0).
 */
export function deriveClaimKey(exchange: SrpExchange, srpAHex: string): Buffer | undefined {
  if (!/^[0-9a-fA-F]+$/.test(srpAHex)) return undefined;
  const A = BigInt(`0x${srpAHex}`);
  if (A % SRP_N === 0n) return undefined;
  const u = BigInt(`0x${hexHash(padHex(A) + padHex(exchange.B))}`);
  if (u === 0n) return undefined;
  const S = modPow((A * modPow(exchange.verifier, u, SRP_N)) % SRP_N, exchange.b, SRP_N);
  const ikm = Buffer.from(padHex(S), 'hex');
  const salt = Buffer.from(padHex(u), 'hex');
  return Buffer.from(hkdfSync('sha256', ikm, salt, DERIVED_KEY_INFO, DERIVED_KEY_BYTES));
}

/** PASSWORD_CLAIM_SIGNATURE as the client must have computed it. */
export function claimSignature(key: Buffer, principalParts: readonly string[], secretBlockBase64: string, timestamp: string): string {
  const hmac = createHmac('sha256', key);
  for (const part of principalParts) hmac.update(part, 'utf8');
  hmac.update(Buffer.from(secretBlockBase64, 'base64'));
  hmac.update(timestamp, 'utf8');
  return hmac.digest('base64');
}

/**
 * Whether PASSWORD_CLAIM_SIGNATURE proves the secret behind the exchange's verifier (the
 * password, or a remembered device's secret): `principalParts` are the pool name and the
 * USER_ID_FOR_SRP, or the device group key and the device key.
 */
export function verifyPasswordClaim(
  exchange: SrpExchange,
  srpAHex: string,
  principalParts: readonly string[],
  secretBlockBase64: string,
  timestamp: string,
  signature: string,
): boolean {
  const key = deriveClaimKey(exchange, srpAHex);
  // The timestamp must be exactly Cognito's format (`Sun Nov 2 14:05:09 UTC 2026`).
  if (!key || parseSrpTimestamp(timestamp) === undefined) return false;
  return signaturesEqual(claimSignature(key, principalParts, secretBlockBase64, timestamp), signature);
}

export function signaturesEqual(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'base64');
  const b = Buffer.from(received, 'base64');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** `Sun Nov 2 14:05:09 UTC 2026`, the only form Cognito accepts. */
export function formatSrpTimestamp(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} UTC ${date.getUTCFullYear()}`;
}

/** The epoch ms a TIMESTAMP names, or undefined when it is not in Cognito's exact form. */
export function parseSrpTimestamp(timestamp: string): number | undefined {
  const match = TIMESTAMP_PATTERN.exec(timestamp);
  if (!match) return undefined;
  const [, day, month, date, hours, minutes, seconds, year] = match;
  const monthIndex = MONTHS.indexOf(month as (typeof MONTHS)[number]);
  if (monthIndex < 0) return undefined;
  const ms = Date.UTC(Number(year), monthIndex, Number(date), Number(hours), Number(minutes), Number(seconds));
  const parsed = new Date(ms);
  // Reject Feb 30 and a weekday that does not match the date.
  if (parsed.getUTCDate() !== Number(date) || DAYS[parsed.getUTCDay()] !== day) return undefined;
  return ms;
}
