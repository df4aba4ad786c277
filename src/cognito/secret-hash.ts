import { createHmac } from 'node:crypto';

/**
 * SECRET_HASH for app clients with a secret: Base64(HMAC-SHA256(key: client secret, message:
 * username + client id)), per Cognito's "Computing secret hash values". The username is the
 * one sent as USERNAME in the same request: as typed in InitiateAuth, USER_ID_FOR_SRP in
 * challenge answers, `cognito:username` on refresh (an email alias would give another hash).
 */
export function secretHash(username: string, clientId: string, clientSecret: string): string {
  return createHmac('sha256', clientSecret).update(username + clientId).digest('base64');
}
