/** Random ids and codes, and secrets compared in constant time. */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const MIXED_CASE_ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** SECRET_HASH: base64 HMAC-SHA256 keyed with the client secret over username + client id. */
export function secretHash(username: string, clientId: string, clientSecret: string): string {
  return createHmac('sha256', clientSecret).update(`${username}${clientId}`).digest('base64');
}

export function randomId(length: number, alphabet: string): string {
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

export function randomDigits(count: number): string {
  return [...randomBytes(count)].map((b) => String(b % 10)).join('');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
