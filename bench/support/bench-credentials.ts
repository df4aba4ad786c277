/**
 * One set of credentials, the same bytes in every server of the throughput benchmark: the
 * broker gets it from its in-memory upstream, the baselines serve its JSON directly.
 * Sizes as the identity pool's: a 20-character key id, a 40-character secret, an
 * 800-character session token (the emulator's; real ones are 800 to 1,200).
 */
import { createHash } from 'node:crypto';
import type { AwsCredentials } from '../../src/cognito/types.js';

export const BENCH_IDENTITY_ID = 'us-east-1:00000000-0000-4000-8000-000000000000';

export function benchCredentials(issuedAt: number, expiresAt: number, serial = 1): AwsCredentials {
  const seed = (label: string, bytes: number) =>
    Buffer.concat(
      Array.from({ length: Math.ceil(bytes / 32) }, (_, i) => createHash('sha256').update(`${label}-${serial}-${i}`).digest()),
    ).subarray(0, bytes);
  return {
    accessKeyId: `ASIA${seed('key', 16).toString('hex').toUpperCase().slice(0, 16)}`,
    secretAccessKey: seed('secret', 30).toString('base64'),
    sessionToken: seed('session', 600).toString('base64'),
    issuedAt,
    expiresAt,
    identityId: BENCH_IDENTITY_ID,
  };
}

/** The container-credentials JSON, field for field as src/server/build-app.ts writes it. */
export function credentialsJson(c: AwsCredentials): string {
  return JSON.stringify({
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    Expiration: new Date(c.expiresAt).toISOString(),
  });
}
