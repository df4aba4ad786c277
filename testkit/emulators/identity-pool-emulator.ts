/**
 * A Cognito identity pool on 127.0.0.1, speaking the real wire protocol so the real
 * `@aws-sdk/client-cognito-identity` works against it unchanged:
 *
 *   POST /   Content-Type: application/x-amz-json-1.1
 *            X-Amz-Target: AWSCognitoIdentityService.GetId | .GetCredentialsForIdentity
 *   200 + JSON output, or 4xx/5xx + {"__type": "NotAuthorizedException", "message": "..."}
 *
 * The enhanced (authenticated) flow: GetId and GetCredentialsForIdentity, both unsigned,
 * both verifying the ID token in `Logins` (signature against the provider's JWKS, issuer,
 * audience, expiry, token_use). Credentials it issues are kept in a registry so the STS
 * stub (sts-stub.ts) can check signatures made with them.
 *
 * The pool's own OpenID tokens (identity-pool-openid.ts): GetOpenIdTokenForDeveloperIdentity,
 * SigV4-signed with the developer's AWS keys (an organisation's backend), and GetOpenIdToken
 * (the basic flow); both tokens are accepted back under the Logins key
 * cognito-identity.amazonaws.com.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { answerAwsJson, AwsJsonFault, FaultQueue, isPlainObject, type AwsJsonService, type EmulatorFault } from './aws-json-protocol.js';
import { closeServer, listen } from '../http.js';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import {
  COGNITO_IDENTITY_PROVIDER,
  DEFAULT_OPENID_TOKEN_SECONDS,
  type DeveloperProvider,
  MAX_OPENID_TOKEN_SECONDS,
  OpenIdTokenIssuer,
  OpenIdTokenRefused,
  sigV4Problem,
} from './identity-pool-openid.js';

export interface IdentityProviderConfig {
  /** Where the provider's signing keys are, e.g. `http://127.0.0.1:9229/<poolId>/.well-known/jwks.json`. */
  jwksUri: string;
  /** The exact `iss` the ID tokens carry, scheme included. */
  issuer: string;
  /** App client ids the pool trusts: the token's `aud` must be one of them. */
  clientIds: readonly string[];
}

export interface IdentityPoolEmulatorOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  region: string;
  /** Default: `<region>:<random uuid>`. */
  identityPoolId?: string;
  /**
   * Keyed by the Logins key: the ID token's `iss` without the scheme, as real Cognito
   * expects (`cognito-idp.<region>.amazonaws.com/<userPoolId>`; for cognito-local
   * `127.0.0.1:<port>/<userPoolId>`).
   */
  providers: Readonly<Record<string, IdentityProviderConfig>>;
  /** Default 3600: the enhanced flow's fixed lifetime on real Cognito. */
  credentialLifetimeSeconds?: number;
  /** The role when the token names none (the pool's default authenticated role). */
  authenticatedRoleArn?: string;
  /** Epoch milliseconds. Drives token expiry checks and credential expiration. */
  now?: () => number;
  /** Developer-authenticated identities: the organisation's backend allowed to call GetOpenIdTokenForDeveloperIdentity. */
  developer?: DeveloperProvider & {
    /** Roles a developer identity may ask for with CustomRoleArn (the pool's role rules). */
    roleArns?: readonly string[];
  };
}

export type IdentityPoolOperation = 'GetId' | 'GetCredentialsForIdentity' | 'GetOpenIdTokenForDeveloperIdentity' | 'GetOpenIdToken';

export interface IssuedCredentials {
  accessKeyId: string;
  secretKey: string;
  sessionToken: string;
  expiration: Date;
  identityId: string;
  roleArn: string;
  /** The `sub` of the ID token the credentials were issued for. */
  sub: string;
  issuedAt: Date;
}

export interface IdentityPoolEmulator {
  /** `http://host:port`, the endpoint to give the SDK. */
  readonly url: string;
  readonly port: number;
  readonly region: string;
  readonly identityPoolId: string;
  /** Requests per operation, counted whether they succeed or fail. */
  readonly calls: Readonly<Record<IdentityPoolOperation, number>>;
  /** Every credential issued so far, by access key id. */
  readonly issued: ReadonlyMap<string, IssuedCredentials>;
  lookupCredentials(accessKeyId: string): IssuedCredentials | undefined;
  /** identityId → sub, for every identity GetId created. */
  identities(): ReadonlyMap<string, string>;
  /** Like the real DeleteIdentities: later calls with these ids get ResourceNotFoundException. */
  deleteIdentities(identityIds: readonly string[]): void;
  /** Signs and verifies the pool's own OpenID tokens (the STS stub verifies them with it too). */
  readonly openId: OpenIdTokenIssuer;
  /** Answer the next `times` calls of `operation` with `fault` (outage and throttling tests). */
  failNext(operation: IdentityPoolOperation, fault: EmulatorFault, times?: number): void;
  close(): Promise<void>;
}

export const DEFAULT_CREDENTIAL_LIFETIME_SECONDS = 3600;
export const DEFAULT_AUTHENTICATED_ROLE_ARN = 'arn:aws:iam::123456789012:role/cognito-broker-local-authenticated';
const MAX_BODY_BYTES = 64 * 1024;
const TARGET_PREFIX = 'AWSCognitoIdentityService.';
const IDENTITY_POOL_OPERATIONS: readonly IdentityPoolOperation[] = ['GetId', 'GetCredentialsForIdentity', 'GetOpenIdTokenForDeveloperIdentity', 'GetOpenIdToken'];
// Identity and pool ids, as the service model constrains them.
const ID_PATTERN = /^[\w-]+:[0-9a-f-]+$/;
const ROLE_ARN_PATTERN = /^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** An error answered on the wire as `{"__type": type, "message": message}`. */
export class IdentityPoolFault extends AwsJsonFault {
  override readonly name = 'IdentityPoolFault';
}

function identityPoolFault(type: string, message: string, status: number): IdentityPoolFault {
  return new IdentityPoolFault(type, message, status);
}

interface VerifiedLogin {
  providerKey: string;
  sub: string;
  claims: JWTPayload;
}

export async function startIdentityPoolEmulator(options: IdentityPoolEmulatorOptions): Promise<IdentityPoolEmulator> {
  const emulator = new Emulator(options, await OpenIdTokenIssuer.create(options.region, options.now));
  await emulator.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  return emulator;
}

class Emulator implements IdentityPoolEmulator {
  readonly region: string;
  readonly identityPoolId: string;
  readonly calls: Record<IdentityPoolOperation, number> = { GetId: 0, GetCredentialsForIdentity: 0, GetOpenIdTokenForDeveloperIdentity: 0, GetOpenIdToken: 0 };
  readonly issued = new Map<string, IssuedCredentials>();
  url = '';
  port = 0;

  private readonly server: Server;
  private readonly now: () => number;
  private readonly lifetimeSeconds: number;
  private readonly defaultRoleArn: string;
  private readonly providers: Map<string, IdentityProviderConfig & { jwks: ReturnType<typeof createRemoteJWKSet> }>;
  private readonly identityBySubject = new Map<string, string>();
  private readonly subjectByIdentity = new Map<string, { providerKey: string; sub: string }>();
  private readonly faults = new FaultQueue<IdentityPoolOperation>(identityPoolFault);

  private readonly developer: IdentityPoolEmulatorOptions['developer'];

  constructor(options: IdentityPoolEmulatorOptions, readonly openId: OpenIdTokenIssuer) {
    this.developer = options.developer;
    this.region = options.region;
    this.identityPoolId = options.identityPoolId ?? `${options.region}:${randomUUID()}`;
    this.now = options.now ?? Date.now;
    this.lifetimeSeconds = options.credentialLifetimeSeconds ?? DEFAULT_CREDENTIAL_LIFETIME_SECONDS;
    this.defaultRoleArn = options.authenticatedRoleArn ?? DEFAULT_AUTHENTICATED_ROLE_ARN;
    this.providers = new Map(
      Object.entries(options.providers).map(([key, provider]) => [
        key,
        { ...provider, jwks: createRemoteJWKSet(new URL(provider.jwksUri)) },
      ]),
    );
    const service: AwsJsonService<IdentityPoolOperation> = {
      targetPrefix: TARGET_PREFIX,
      operations: IDENTITY_POOL_OPERATIONS,
      maxBodyBytes: MAX_BODY_BYTES,
      fault: identityPoolFault,
      received: (operation) => {
        this.calls[operation] += 1;
        this.faults.throwIfDue(operation);
      },
      run: (operation, input, { req, body }) => {
        if (operation === 'GetOpenIdTokenForDeveloperIdentity') return this.developerToken(req, body, input);
        if (operation === 'GetOpenIdToken') return this.openIdToken(input);
        return operation === 'GetId' ? this.getId(input) : this.getCredentialsForIdentity(input);
      },
    };
    this.server = createServer((req, res) => void answerAwsJson(req, res, service));
  }

  async listen(host: string, port: number): Promise<void> {
    ({ port: this.port, url: this.url } = await listen(this.server, host, port));
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  lookupCredentials(accessKeyId: string): IssuedCredentials | undefined {
    return this.issued.get(accessKeyId);
  }

  identities(): ReadonlyMap<string, string> {
    return new Map([...this.subjectByIdentity].map(([id, { sub }]) => [id, sub]));
  }

  deleteIdentities(identityIds: readonly string[]): void {
    for (const id of identityIds) {
      const owner = this.subjectByIdentity.get(id);
      if (!owner) continue;
      this.subjectByIdentity.delete(id);
      this.identityBySubject.delete(subjectKey(owner.providerKey, owner.sub));
    }
  }

  failNext(operation: IdentityPoolOperation, fault: EmulatorFault, times = 1): void {
    this.faults.add(operation, fault, times);
  }

  private async getId(input: Record<string, unknown>): Promise<{ IdentityId: string }> {
    const poolId = requireString(input, 'IdentityPoolId', ID_PATTERN);
    if (poolId !== this.identityPoolId) {
      throw new IdentityPoolFault('ResourceNotFoundException', `IdentityPool '${poolId}' not found.`);
    }
    const login = await this.verifyLogins(input['Logins']);
    const key = subjectKey(login.providerKey, login.sub);
    let identityId = this.identityBySubject.get(key);
    if (!identityId) {
      identityId = `${this.region}:${randomUUID()}`;
      this.identityBySubject.set(key, identityId);
      this.subjectByIdentity.set(identityId, { providerKey: login.providerKey, sub: login.sub });
    }
    return { IdentityId: identityId };
  }

  private async getCredentialsForIdentity(input: Record<string, unknown>): Promise<unknown> {
    const identityId = requireString(input, 'IdentityId', ID_PATTERN);
    const customRoleArn = optionalString(input, 'CustomRoleArn', ROLE_ARN_PATTERN);
    // Real Cognito answers an unknown (or deleted) identity before looking at the logins.
    const owner = this.subjectByIdentity.get(identityId);
    if (!owner) throw new IdentityPoolFault('ResourceNotFoundException', `Identity '${identityId}' not found.`);
    if (input['Logins'] === undefined || isEmptyObject(input['Logins'])) {
      throw new IdentityPoolFault('NotAuthorizedException', `Access to Identity '${identityId}' is forbidden.`);
    }
    const login = await this.verifyLogins(input['Logins']);
    if (login.providerKey !== owner.providerKey || login.sub !== owner.sub) {
      throw new IdentityPoolFault(
        'NotAuthorizedException',
        "Logins don't match. Please include at least one valid login for this identity or identity pool.",
      );
    }
    const role = login.providerKey === this.developer?.providerName
      ? developerRole(customRoleArn, this.developer.roleArns ?? [], this.defaultRoleArn)
      : chooseRole(login.claims, customRoleArn, this.defaultRoleArn);
    const credentials = this.issue(identityId, login, role);
    return {
      IdentityId: identityId,
      Credentials: {
        AccessKeyId: credentials.accessKeyId,
        SecretKey: credentials.secretKey,
        SessionToken: credentials.sessionToken,
        // The wire format is epoch seconds; the SDK turns it into a Date.
        Expiration: credentials.expiration.getTime() / 1000,
      },
    };
  }

  private issue(identityId: string, login: VerifiedLogin, roleArn: string): IssuedCredentials {
    const nowSeconds = Math.floor(this.now() / 1000);
    const credentials: IssuedCredentials = {
      accessKeyId: newAccessKeyId(),
      // 30 random bytes are exactly 40 base64 characters, the length of real secret keys.
      secretKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(600).toString('base64'),
      expiration: new Date((nowSeconds + this.lifetimeSeconds) * 1000),
      identityId,
      roleArn,
      sub: login.sub,
      issuedAt: new Date(nowSeconds * 1000),
    };
    this.issued.set(credentials.accessKeyId, credentials);
    return credentials;
  }

  /** Verifies every token in Logins and returns the first; any bad token fails the call. */
  private async verifyLogins(logins: unknown): Promise<VerifiedLogin> {
    if (logins === undefined || isEmptyObject(logins)) {
      throw new IdentityPoolFault('NotAuthorizedException', 'Unauthenticated access is not supported for this identity pool.');
    }
    if (!isPlainObject(logins) || !Object.values(logins).every((v) => typeof v === 'string')) {
      throw new IdentityPoolFault('InvalidParameterException', 'Logins must map provider names to token strings.');
    }
    const verified: VerifiedLogin[] = [];
    for (const [providerKey, token] of Object.entries(logins as Record<string, string>)) {
      verified.push(await this.verifyToken(providerKey, token));
    }
    return verified[0] as VerifiedLogin;
  }

  /**
   * The organisation's backend: signed with the developer's AWS keys, it names its user in
   * Logins under its DeveloperProviderName and gets that user's IdentityId (created on first
   * use) and an OpenID token for it.
   */
  private async developerToken(req: IncomingMessage, body: string, input: Record<string, unknown>): Promise<{ IdentityId: string; Token: string }> {
    const developer = this.developer;
    if (!developer) throw new IdentityPoolFault('NotAuthorizedException', 'This identity pool has no developer provider.');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
    const problem = await sigV4Problem({ method: req.method ?? 'POST', path: (req.url ?? '/').split('?')[0] ?? '/', headers, body: Buffer.from(body, 'utf8') }, developer, this.now());
    if (problem) throw new IdentityPoolFault('InvalidSignatureException', problem, 403);
    const poolId = requireString(input, 'IdentityPoolId', ID_PATTERN);
    if (poolId !== this.identityPoolId) throw new IdentityPoolFault('ResourceNotFoundException', `IdentityPool '${poolId}' not found.`);
    const logins = input['Logins'];
    const user = isPlainObject(logins) ? logins[developer.providerName] : undefined;
    if (typeof user !== 'string' || user === '') {
      throw new IdentityPoolFault('NotAuthorizedException', `Logins must name the user under the developer provider '${developer.providerName}'.`);
    }
    const duration = input['TokenDuration'] ?? DEFAULT_OPENID_TOKEN_SECONDS;
    if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 1 || duration > MAX_OPENID_TOKEN_SECONDS) {
      throw new IdentityPoolFault('InvalidParameterException', `TokenDuration must be 1-${MAX_OPENID_TOKEN_SECONDS} seconds.`);
    }
    const identityId = this.identityFor(developer.providerName, user);
    const amr = ['authenticated', developer.providerName, `${developer.providerName}:${poolId}:${user}`];
    return { IdentityId: identityId, Token: await this.openId.sign(identityId, poolId, amr, duration) };
  }

  /** The basic flow's first step: an OpenID token for an identity, given a login of it. */
  private async openIdToken(input: Record<string, unknown>): Promise<{ IdentityId: string; Token: string }> {
    const identityId = requireString(input, 'IdentityId', ID_PATTERN);
    const owner = this.subjectByIdentity.get(identityId);
    if (!owner) throw new IdentityPoolFault('ResourceNotFoundException', `Identity '${identityId}' not found.`);
    const login = await this.verifyLogins(input['Logins']);
    if (login.providerKey !== owner.providerKey || login.sub !== owner.sub) {
      throw new IdentityPoolFault('NotAuthorizedException', "Logins don't match. Please include at least one valid login for this identity or identity pool.");
    }
    return { IdentityId: identityId, Token: await this.openId.sign(identityId, this.identityPoolId, ['authenticated', login.providerKey]) };
  }

  /** A token of this pool's own: its `sub` is the IdentityId, which stands for the login that made it. */
  private async verifyOwnToken(token: string): Promise<VerifiedLogin> {
    let sub: string;
    let claims: JWTPayload;
    try {
      ({ sub, claims } = await this.openId.verify(token, this.identityPoolId));
    } catch (error) {
      if (error instanceof OpenIdTokenRefused) throw new IdentityPoolFault('NotAuthorizedException', error.message);
      throw error;
    }
    const owner = this.subjectByIdentity.get(sub);
    if (!owner) throw new IdentityPoolFault('NotAuthorizedException', `Invalid login token. Identity '${sub}' not found.`);
    return { providerKey: owner.providerKey, sub: owner.sub, claims };
  }

  private identityFor(providerKey: string, sub: string): string {
    const key = subjectKey(providerKey, sub);
    let identityId = this.identityBySubject.get(key);
    if (!identityId) {
      identityId = `${this.region}:${randomUUID()}`;
      this.identityBySubject.set(key, identityId);
      this.subjectByIdentity.set(identityId, { providerKey, sub });
    }
    return identityId;
  }

  private async verifyToken(providerKey: string, token: string): Promise<VerifiedLogin> {
    if (providerKey === COGNITO_IDENTITY_PROVIDER) return this.verifyOwnToken(token);
    const provider = this.providers.get(providerKey);
    if (!provider) {
      throw new IdentityPoolFault('NotAuthorizedException', 'Token is not from a supported provider of this identity pool.');
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, provider.jwks, {
        issuer: provider.issuer,
        audience: [...provider.clientIds],
        algorithms: ['RS256'],
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw tokenFault(error, this.now());
    }
    if (claims['token_use'] !== 'id') {
      throw new IdentityPoolFault('NotAuthorizedException', 'Invalid login token. Not an ID token (token_use is not "id").');
    }
    if (typeof claims.sub !== 'string' || claims.sub === '') {
      throw new IdentityPoolFault('NotAuthorizedException', 'Invalid login token. Missing a required claim: sub');
    }
    return { providerKey, sub: claims.sub, claims };
  }
}

/** CustomRoleArn of a developer identity: one of the roles the pool's rules allow, else the default. */
function developerRole(customRoleArn: string | undefined, allowed: readonly string[], defaultRoleArn: string): string {
  if (customRoleArn === undefined) return defaultRoleArn;
  if (!allowed.includes(customRoleArn)) throw new IdentityPoolFault('InvalidParameterException', `CustomRoleArn '${customRoleArn}' is not allowed for this identity.`);
  return customRoleArn;
}

/** Maps jose's verification errors to what Cognito answers (NotAuthorizedException "Invalid login token. ..."). */
function tokenFault(error: unknown, nowMs: number): IdentityPoolFault {
  const invalid = (detail: string) => new IdentityPoolFault('NotAuthorizedException', `Invalid login token. ${detail}`);
  if (error instanceof joseErrors.JWTExpired) {
    return invalid(`Token expired: ${String(error.payload.exp)} >= ${Math.floor(nowMs / 1000)}`);
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return invalid('Incorrect token audience.');
    if (error.claim === 'iss') return invalid("Issuer doesn't match providerName");
    return invalid(`Claim ${error.claim} is not valid: ${error.reason}`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) {
    return invalid("Couldn't verify signed token.");
  }
  const keysUnavailable =
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    !(error instanceof joseErrors.JOSEError) ||
    error.code === joseErrors.JOSEError.code; // jose's generic error: a non-200 or unparsable JWKS response
  if (keysUnavailable) {
    // The provider's keys could not be fetched: the service's problem, not the caller's (the SDK retries 5xx).
    return new IdentityPoolFault('InternalErrorException', 'Could not fetch the identity provider signing keys.', 500);
  }
  return invalid('Not a valid OpenId Connect identity token.');
}

/** CustomRoleArn must be one of the token's cognito:roles; else cognito:preferred_role; else the pool default. */
function chooseRole(claims: JWTPayload, customRoleArn: string | undefined, defaultRoleArn: string): string {
  const roles = Array.isArray(claims['cognito:roles']) ? claims['cognito:roles'].filter((r) => typeof r === 'string') : [];
  if (customRoleArn !== undefined) {
    if (!roles.includes(customRoleArn)) {
      throw new IdentityPoolFault(
        'InvalidParameterException',
        `CustomRoleArn '${customRoleArn}' is not one of the roles in the token (cognito:roles).`,
      );
    }
    return customRoleArn;
  }
  const preferred = claims['cognito:preferred_role'];
  return typeof preferred === 'string' ? preferred : defaultRoleArn;
}



function requireString(input: Record<string, unknown>, name: string, pattern: RegExp): string {
  const value = input[name];
  if (value === undefined || value === null) {
    throw new IdentityPoolFault('InvalidParameterException', `1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`);
  }
  return checkString(name, value, pattern);
}

function optionalString(input: Record<string, unknown>, name: string, pattern: RegExp): string | undefined {
  const value = input[name];
  return value === undefined || value === null ? undefined : checkString(name, value, pattern);
}

function checkString(name: string, value: unknown, pattern: RegExp): string {
  if (typeof value !== 'string') throw new IdentityPoolFault('SerializationException', `${name} must be a string.`);
  if (!pattern.test(value) || value.length > 2048) {
    throw new IdentityPoolFault(
      'InvalidParameterException',
      `1 validation error detected: Value '${value}' at '${lowerFirst(name)}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern.source}`,
    );
  }
  return value;
}



function newAccessKeyId(): string {
  // Temporary credentials start with ASIA; 16 more characters from the base32 alphabet make 20.
  return `ASIA${[...randomBytes(16)].map((b) => ACCESS_KEY_ALPHABET[b % 32]).join('')}`;
}

function subjectKey(providerKey: string, sub: string): string {
  return `${providerKey}\n${sub}`;
}


function isEmptyObject(value: unknown): boolean {
  return isPlainObject(value) && Object.keys(value).length === 0;
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
