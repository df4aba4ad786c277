// The decode subpath alone: jose's index loads every JWS/JWE/JWK module for one decode
// (importing it took ~50 ms here, the subpath ~17 ms).
import { decodeJwt } from 'jose/jwt/decode';
import type { JWTPayload } from 'jose';
import { UpstreamMalformedError } from '../errors.js';

export interface IdTokenClaims extends JWTPayload {
  readonly exp: number;
  readonly iat: number;
  readonly iss: string;
  readonly 'cognito:username'?: string;
  readonly 'cognito:roles'?: string[];
  readonly 'cognito:preferred_role'?: string;
}

/**
 * Reads an ID token's claims without verifying it: the token came to us over TLS from
 * Cognito, and the identity pool verifies it anyway. We only need its times and issuer.
 */
export function readIdTokenClaims(token: string): IdTokenClaims {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch (error) {
    throw new UpstreamMalformedError('The user pool returned an ID token that is not a JWT.', { cause: stripped(error) });
  }
  if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || typeof claims.iss !== 'string') {
    throw new UpstreamMalformedError('The user pool returned an ID token without exp, iat or iss claims.');
  }
  if (!(claims.exp > claims.iat)) {
    // Its lifetime (exp - iat) sets every refresh margin; a token that ends before it starts has none.
    throw new UpstreamMalformedError('The user pool returned an ID token that expires before it was issued (exp <= iat).');
  }
  return claims as IdTokenClaims;
}

/**
 * The identity pool's Logins key for a user-pool token: its issuer without the scheme
 * (cognito-idp.<region>.amazonaws.com/<poolId>; a local emulator's host and path alike).
 */
export function loginsKey(claims: Pick<IdTokenClaims, 'iss'>): string {
  return claims.iss.replace(/^https?:\/\//, '');
}

// jose's error may quote the input; keep only its class name so no token reaches a log.
function stripped(error: unknown): Error {
  return new Error(error instanceof Error ? error.name : 'decode failed');
}
