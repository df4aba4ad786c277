/**
 * Tokens of the user pool emulator: RS256 ID and access tokens signed with the pool's own
 * key (served as its JWKS), and opaque refresh tokens kept in a store that knows their
 * family (`origin_jti`), device, expiry, revocation and rotation.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** What a refresh token stands for. */
export interface RefreshRecord {
  readonly token: string;
  readonly username: string;
  readonly clientId: string;
  readonly deviceKey: string | undefined;
  /** The sign-in this token descends from: every token of one sign-in shares it. */
  readonly originJti: string;
  readonly issuedAt: number;
  /** Epoch ms. A rotated token keeps its predecessor's expiry. */
  readonly expiresAt: number;
  /** Epoch seconds of the sign-in (the tokens' auth_time). */
  readonly authTime: number;
  revoked: boolean;
  /** Set when rotation replaced this token (epoch ms). */
  rotatedAt?: number;
  successor?: string;
}

export type RefreshState = 'valid' | 'unknown' | 'revoked' | 'expired' | 'rotated';

export interface AccessTokenClaims extends JWTPayload {
  username: string;
  client_id: string;
  origin_jti: string;
  device_key?: string;
}

const KEY_ID_BYTES = 16;
// Real refresh tokens are JWEs of about 1,700 characters; keep the shape and the size.
const JWE_HEADER = Buffer.from(JSON.stringify({ cty: 'JWT', enc: 'A256GCM', alg: 'RSA-OAEP' })).toString('base64url');
const JWE_PART_BYTES = [256, 12, 1000, 16] as const;

export class TokenSigner {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
    private readonly publicJwk: JWK,
    readonly issuer: string,
  ) {}

  static async create(issuer: string): Promise<TokenSigner> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = randomBytes(KEY_ID_BYTES).toString('base64');
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    return new TokenSigner(privateKey, publicKey, jwk, issuer);
  }

  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  sign(claims: JWTPayload, issuedAtSeconds: number, lifetimeSeconds: number): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: this.publicJwk.kid as string })
      .setIssuer(this.issuer)
      .setIssuedAt(issuedAtSeconds)
      .setExpirationTime(issuedAtSeconds + lifetimeSeconds)
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  /** The claims of one of our access tokens, or undefined when it is not one, forged or expired. */
  async verifyAccessToken(token: string, nowMs: number): Promise<AccessTokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, {
        issuer: this.issuer,
        algorithms: ['RS256'],
        currentDate: new Date(nowMs),
      });
      if (payload['token_use'] !== 'access' || typeof payload['username'] !== 'string') return undefined;
      return payload as AccessTokenClaims;
    } catch {
      return undefined;
    }
  }
}

export class RefreshTokenStore {
  private readonly records = new Map<string, RefreshRecord>();

  issue(fields: Omit<RefreshRecord, 'token' | 'revoked'>): RefreshRecord {
    const token = [JWE_HEADER, ...JWE_PART_BYTES.map((n) => randomBytes(n).toString('base64url'))].join('.');
    const record: RefreshRecord = { ...fields, token, revoked: false };
    this.records.set(token, record);
    return record;
  }

  get(token: string): RefreshRecord | undefined {
    return this.records.get(token);
  }

  /** Whether the token may be used now; `graceMs` is how long a rotated-out token stays usable. */
  state(record: RefreshRecord | undefined, nowMs: number, graceMs: number): RefreshState {
    if (!record) return 'unknown';
    if (record.revoked) return 'revoked';
    if (nowMs >= record.expiresAt) return 'expired';
    if (record.rotatedAt !== undefined && nowMs > record.rotatedAt + graceMs) return 'rotated';
    return 'valid';
  }

  /** Replaces `record` with a new token of the same family and expiry. */
  rotate(record: RefreshRecord, nowMs: number): RefreshRecord {
    const next = this.issue({
      username: record.username,
      clientId: record.clientId,
      deviceKey: record.deviceKey,
      originJti: record.originJti,
      issuedAt: nowMs,
      expiresAt: record.expiresAt,
      authTime: record.authTime,
    });
    record.rotatedAt = nowMs;
    record.successor = next.token;
    return next;
  }

  /** RevokeToken: the token's whole family (its rotations included). */
  revokeFamily(originJti: string): void {
    for (const record of this.records.values()) if (record.originJti === originJti) record.revoked = true;
  }

  /** GlobalSignOut: every family of the user; returns the families revoked. */
  revokeUser(username: string): Set<string> {
    const families = new Set<string>();
    for (const record of this.records.values()) {
      if (record.username !== username) continue;
      record.revoked = true;
      families.add(record.originJti);
    }
    return families;
  }
}
