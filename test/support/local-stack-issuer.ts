/**
 * A stand-in OpenID provider for emulator tests: serves a JWKS on 127.0.0.1 and mints
 * ID tokens with any claims (cognito-local cannot put `cognito:roles` in a token) and
 * with deliberate faults (wrong key, wrong audience, expired).
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { closeServer, listen } from '../../testkit/http.js';

const KEY_ID = 'test-issuer-key';

export interface MintOptions {
  /** Default: the issuer's client id. */
  audience?: string;
  /** Default 3600; negative for an already-expired token. */
  expiresInSeconds?: number;
  /** Epoch seconds the token is issued at; default now. */
  issuedAt?: number;
  /** Sign with a key that is not in the JWKS (same kid): signature verification fails. */
  signWithOtherKey?: boolean;
  /** Override `iss`. */
  issuer?: string;
}

export interface TestIssuer {
  /** `http://127.0.0.1:<port>/<poolId>` */
  issuer: string;
  /** `iss` without the scheme: the Logins key and the emulator's provider key. */
  loginsKey: string;
  jwksUri: string;
  clientId: string;
  /** An ID token (token_use 'id') for `sub`, with extra claims merged in. */
  mintIdToken(sub: string, claims?: JWTPayload, options?: MintOptions): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIssuer(poolId = 'local_testpool', clientId = 'test-client-id'): Promise<TestIssuer> {
  const keys = await generateKeyPair('RS256');
  const otherKeys = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: KEY_ID, alg: 'RS256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url === `/${poolId}/.well-known/jwks.json`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  const { url } = await listen(server, '127.0.0.1', 0);
  const issuer = `${url}/${poolId}`;

  const mintIdToken = async (sub: string, claims: JWTPayload = {}, options: MintOptions = {}) => {
    const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
    const key: CryptoKey = options.signWithOtherKey ? otherKeys.privateKey : keys.privateKey;
    return new SignJWT({ token_use: 'id', 'cognito:username': sub, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: KEY_ID })
      .setSubject(sub)
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience ?? clientId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + (options.expiresInSeconds ?? 3600))
      .sign(key);
  };

  return {
    issuer,
    loginsKey: issuer.replace(/^https?:\/\//, ''),
    jwksUri: `${issuer}/.well-known/jwks.json`,
    clientId,
    mintIdToken,
    close: () => closeServer(server),
  };
}
