/**
 * The identity pool's own OpenID tokens, for the identity-pool emulator: what
 * GetOpenIdTokenForDeveloperIdentity (an organisation's backend, signed with its AWS
 * credentials) and GetOpenIdToken (the basic flow) return, and what GetCredentialsForIdentity
 * accepts under the Logins key `cognito-identity.amazonaws.com`. Signed with a key of the
 * emulator's own (RS256, a new one per emulator), verified as Cognito does: signature,
 * issuer, audience (the identity pool id), expiry. The STS stub verifies the same tokens for
 * AssumeRoleWithWebIdentity through `verify` (and the public key at `jwks`).
 */
import { createHash, createHmac, type Hash, type Hmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { errors as joseErrors, exportJWK, generateKeyPair, type JWK, jwtVerify, type JWTPayload, SignJWT } from 'jose';

/** The Logins key of the pool's own tokens, in every partition. */
export const COGNITO_IDENTITY_PROVIDER = 'cognito-identity.amazonaws.com';
/** Cognito's default OpenID token lifetime (15 minutes); a backend may ask for up to 24 hours. */
export const DEFAULT_OPENID_TOKEN_SECONDS = 900;
export const MAX_OPENID_TOKEN_SECONDS = 86_400;

/**
 * The `iss` of the identity pool's OpenID tokens: https://cognito-identity.amazonaws.com in the
 * aws partition; the region's host in the China partition (amazonaws.com.cn).
 */
export function openIdIssuer(region: string): string {
  return region.startsWith('cn-') ? `https://cognito-identity.${region}.amazonaws.com.cn` : `https://${COGNITO_IDENTITY_PROVIDER}`;
}

/** The organisation's backend as the pool knows it: its developer provider name and the AWS keys it signs with. */
export interface DeveloperProvider {
  /** The pool's DeveloperProviderName, e.g. "login.example.com": the Logins key the backend uses. */
  providerName: string;
  accessKeyId: string;
  secretKey: string;
}

export interface OpenIdClaims {
  sub: string;
  aud: string;
  amr: string[];
  claims: JWTPayload;
}

/** Why a token was refused, in Cognito's words (the caller wraps it in its own fault type). */
export class OpenIdTokenRefused extends Error {}

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export class OpenIdTokenIssuer {
  private constructor(
    readonly issuer: string,
    private readonly privateKey: KeyPair['privateKey'],
    private readonly publicKey: KeyPair['publicKey'],
    readonly jwks: { keys: JWK[] },
    private readonly now: () => number,
  ) {}

  static async create(region: string, now: () => number = Date.now): Promise<OpenIdTokenIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'cognito-identity-emulator', alg: 'RS256', use: 'sig' };
    return new OpenIdTokenIssuer(openIdIssuer(region), privateKey, publicKey, { keys: [jwk] }, now);
  }

  /** A token for `identityId` of `identityPoolId`, as Cognito shapes it (sub, aud, amr). */
  sign(identityId: string, identityPoolId: string, amr: string[], lifetimeSeconds = DEFAULT_OPENID_TOKEN_SECONDS): Promise<string> {
    const nowSeconds = Math.floor(this.now() / 1000);
    return new SignJWT({ amr, 'https://cognito-identity.amazonaws.com/identity-pool-arn': identityPoolId })
      .setProtectedHeader({ alg: 'RS256', kid: 'cognito-identity-emulator', typ: 'JWS' })
      .setIssuer(this.issuer)
      .setSubject(identityId)
      .setAudience(identityPoolId)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + lifetimeSeconds)
      .sign(this.privateKey);
  }

  async verify(token: string, identityPoolId: string): Promise<OpenIdClaims> {
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, this.publicKey, { issuer: this.issuer, audience: identityPoolId, algorithms: ['RS256'], currentDate: new Date(this.now()) }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new OpenIdTokenRefused(`Invalid login token. Token expired: ${String(error.payload.exp)} >= ${Math.floor(this.now() / 1000)}`);
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw new OpenIdTokenRefused(`Invalid login token. Claim ${error.claim} is not valid.`);
      throw new OpenIdTokenRefused("Invalid login token. Couldn't verify signed token.");
    }
    if (typeof claims.sub !== 'string') throw new OpenIdTokenRefused('Invalid login token. Missing a required claim: sub');
    const amr = Array.isArray(claims['amr']) ? claims['amr'].filter((a): a is string => typeof a === 'string') : [];
    return { sub: claims.sub, aud: identityPoolId, amr, claims };
  }
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const MAX_SKEW_MS = 15 * 60 * 1000;

export interface SignedRequest {
  method: string;
  path: string;
  /** Lower-case header names, as received. */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Checks a SigV4-signed request (service cognito-identity) against the developer's secret,
 * recomputed with the SDK's own signer. Returns undefined when it holds, else why not.
 */
export async function sigV4Problem(request: SignedRequest, developer: DeveloperProvider, now: number): Promise<string | undefined> {
  const match = AUTHORIZATION.exec(request.headers['authorization'] ?? '');
  if (!match) return 'Missing or malformed AWS4-HMAC-SHA256 Authorization header.';
  const [, accessKeyId, scopeDate, region = '', service, signedHeaders = '', signature = ''] = match;
  if (accessKeyId !== developer.accessKeyId) return 'The security token included in the request is invalid.';
  if (service !== 'cognito-identity') return "Credential should be scoped to correct service: 'cognito-identity'.";
  const parts = AMZ_DATE.exec(request.headers['x-amz-date'] ?? '');
  if (!parts) return "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";
  const [, y, mo, d, h, mi, s] = parts.map(Number) as [number, number, number, number, number, number, number];
  const signingDate = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if ((request.headers['x-amz-date'] ?? '').slice(0, 8) !== scopeDate) return 'Date in Credential scope does not match the request date.';
  if (Math.abs(signingDate.getTime() - now) > MAX_SKEW_MS) return 'Signature expired.';
  const names = signedHeaders.split(';');
  const headers: Record<string, string> = {};
  for (const name of names) if (request.headers[name] !== undefined) headers[name] = request.headers[name] as string;
  const signer = new SignatureV4({ service: 'cognito-identity', region, credentials: { accessKeyId: developer.accessKeyId, secretAccessKey: developer.secretKey }, sha256: Sha256, applyChecksum: false });
  const signed = await signer.sign(
    { method: request.method, protocol: 'http:', hostname: (headers['host'] ?? '').replace(/:\d+$/, ''), path: request.path, query: {}, headers, body: request.body.length > 0 ? new Uint8Array(request.body) : undefined },
    { signingDate, signableHeaders: new Set(names) },
  );
  const expected = AUTHORIZATION.exec(String(signed.headers['authorization'] ?? ''))?.[6] ?? '';
  const same = expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  return same ? undefined : 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.';
}

/** The hash constructor the signer wants, backed by node:crypto. */
class Sha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const key = typeof this.secret === 'string' ? Buffer.from(this.secret) : ArrayBuffer.isView(this.secret) ? Buffer.from(this.secret.buffer, this.secret.byteOffset, this.secret.byteLength) : Buffer.from(this.secret);
    return createHmac('sha256', key);
  }
}
