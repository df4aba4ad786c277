/**
 * A Cognito user pool on 127.0.0.1, speaking the real wire protocol so the real
 * `@aws-sdk/client-cognito-identity-provider` works against it unchanged:
 *
 *   POST /   Content-Type: application/x-amz-json-1.1
 *            X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>
 *   200 + JSON output, or 4xx/5xx + {"__type": "NotAuthorizedException", "message": "..."}
 *
 * It covers what cognito-local cannot, after AWS's published API reference: USER_SRP_AUTH
 * (the server side of SRP in srp-server.ts; a wrong proof is refused), SECRET_HASH on every
 * call of a client with a secret, every MFA challenge (SMS, TOTP, email, the choice between
 * them, TOTP enrolment), NEW_PASSWORD_REQUIRED, remembered devices (ConfirmDevice, then
 * DEVICE_SRP_AUTH instead of MFA), GetTokensFromRefreshToken with refresh-token rotation
 * and its grace period, RevokeToken and GlobalSignOut. The managed login endpoints
 * (/oauth2/authorize with PKCE, /oauth2/token, /oauth2/revoke, /oauth2/userInfo) and the
 * pool's /.well-known documents are in user-pool-oauth.ts. Tokens are RS256 JWTs with the
 * pool's own key, so the identity pool emulator can trust the pool as a provider.
 *
 * Test hooks: createClient, createUser, the codes "sent" by SMS and email, the current TOTP
 * code of a user, per-operation counters, an injectable clock and failNext.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { EmulatorFault, IdentityProviderConfig } from './identity-pool-emulator.js';
import { AwsJsonFault, isPlainObject, parseInput, parseTarget, sendAwsJson } from './aws-json-protocol.js';
import { closeServer, listen, readBody } from './http-server-kit.js';
import {
  claimSignature,
  createPasswordVerifier,
  deriveClaimKey,
  deviceVerifierFromConfig,
  parseSrpTimestamp,
  signaturesEqual,
  SRP_N,
  startSrpExchange,
  type SrpExchange,
  type SrpVerifier,
} from './srp-server.js';
import { generateTotpSecret, totpCode as computeTotp, verifyTotp } from './totp.js';
import { createManagedLogin, OAuthError, type ManagedLogin, type TokenSet } from './user-pool-oauth.js';
import { RefreshTokenStore, TokenSigner, type AccessTokenClaims, type RefreshRecord } from './user-pool-tokens.js';

export { totpCode } from './totp.js';

export type MfaMethod = 'sms' | 'totp' | 'email';
export type AuthFlow = 'USER_SRP_AUTH' | 'USER_PASSWORD_AUTH' | 'REFRESH_TOKEN_AUTH';
export type OAuthEndpoint = 'oauth2/authorize' | 'oauth2/token' | 'oauth2/revoke' | 'oauth2/userInfo';
export type UserPoolOperation =
  | 'InitiateAuth'
  | 'RespondToAuthChallenge'
  | 'AssociateSoftwareToken'
  | 'VerifySoftwareToken'
  | 'ConfirmDevice'
  | 'UpdateDeviceStatus'
  | 'ForgetDevice'
  | 'GetTokensFromRefreshToken'
  | 'RevokeToken'
  | 'GlobalSignOut'
  | 'GetUser'
  | OAuthEndpoint;

export interface TokenLifetimes {
  /** Default 3600. */
  idTokenSeconds?: number;
  /** Default 3600; also AuthenticationResult.ExpiresIn. */
  accessTokenSeconds?: number;
  /** Default 30 days. */
  refreshTokenSeconds?: number;
}

export interface UserPoolEmulatorOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 'us-east-1'. */
  region?: string;
  /** Default `<region>_<9 random characters>`. SRP uses the part after the '_'. */
  userPoolId?: string;
  /**
   * The pool remembers devices: sign-ins answer NewDeviceMetadata, ConfirmDevice stores the
   * device's SRP verifier, and a remembered device signs in with DEVICE_SRP_AUTH instead of
   * MFA. `onlyRememberedOnUserPrompt`: ConfirmDevice answers UserConfirmationNecessary and
   * the device counts as remembered only after UpdateDeviceStatus. Default off.
   */
  deviceTracking?: boolean | { onlyRememberedOnUserPrompt?: boolean };
  /** Lifetime of a challenge Session. Default 180 (real Cognito: 3 to 15 minutes). */
  sessionSeconds?: number;
  /** Wrong codes a challenge session takes before it dies. Default 3. */
  maxCodeAttempts?: number;
  /** Lifetime of an /oauth2/authorize code. Default 300. */
  authorizationCodeSeconds?: number;
  /** Defaults for clients created without their own. */
  lifetimes?: TokenLifetimes;
  /** Epoch milliseconds. Drives sessions, codes, TOTP, token expiry and grace periods. */
  now?: () => number;
}

export interface UserPoolClientSpec {
  /** Default: 26 random characters. */
  clientId?: string;
  name?: string;
  /** true: generate a secret; a string: use it. */
  secret?: boolean | string;
  /** Refresh-token rotation (RefreshTokenRotation.Feature ENABLED). REFRESH_TOKEN_AUTH is then refused. */
  rotation?: boolean;
  /** RetryGracePeriodSeconds, 0 to 60. Default 0. */
  gracePeriodSeconds?: number;
  /** Overrides the pool's deviceTracking for this client. */
  deviceTracking?: boolean;
  /** Exact redirect_uri values /oauth2/authorize accepts. */
  callbackUrls?: readonly string[];
  lifetimes?: TokenLifetimes;
  /** Default all three; REFRESH_TOKEN_AUTH is left out when rotation is on. */
  authFlows?: readonly AuthFlow[];
}

export interface UserPoolClientInfo {
  clientId: string;
  name: string;
  clientSecret?: string;
  rotation: boolean;
  gracePeriodSeconds: number;
  deviceTracking: boolean;
  callbackUrls: readonly string[];
}

export interface UserGroup {
  name: string;
  roleArn?: string;
  /** Lower wins cognito:preferred_role. Default 0. */
  precedence?: number;
}

export interface UserSpec {
  /** The internal username: cognito:username and USER_ID_FOR_SRP. */
  username: string;
  /** With forceNewPassword, the temporary password. */
  password: string;
  email?: string;
  /** The email signs in too (as USERNAME); tokens and SRP keep the internal username. */
  emailAlias?: boolean;
  /** Default '+15555550100' when the user has SMS MFA. */
  phoneNumber?: string;
  /** More attributes for the ID token and NEW_PASSWORD_REQUIRED. */
  attributes?: Record<string, string>;
  /** Enrolled MFA methods; with several and no preferred one, sign-in answers SELECT_MFA_TYPE. */
  mfa?: MfaMethod | readonly MfaMethod[] | { methods: readonly MfaMethod[]; preferred?: MfaMethod };
  /** MFA required with no method enrolled: sign-in answers MFA_SETUP (TOTP enrolment). */
  mfaRequired?: boolean;
  /** Base32; generated when `mfa` includes 'totp'. */
  totpSecret?: string;
  /** Sign-in answers NEW_PASSWORD_REQUIRED. */
  forceNewPassword?: boolean;
  /** Attribute names NEW_PASSWORD_REQUIRED asks for (as `userAttributes.<name>`) while unset. */
  requiredAttributes?: readonly string[];
  groups?: readonly UserGroup[];
  /** Default true. */
  enabled?: boolean;
}

export interface UserInfo {
  username: string;
  sub: string;
  totpSecret?: string;
}

export interface SentMessage {
  channel: 'sms' | 'email';
  username: string;
  destination: string;
  code: string;
  /** Epoch ms. */
  at: number;
}

export interface DeviceInfo {
  deviceKey: string;
  deviceGroupKey: string;
  name?: string;
  confirmed: boolean;
  remembered: boolean;
}

export interface UserPoolEmulator {
  /** `http://host:port`: the endpoint for the SDK and the base of /oauth2/*. */
  readonly url: string;
  readonly port: number;
  readonly region: string;
  readonly userPoolId: string;
  /** The tokens' `iss`: `<url>/<userPoolId>`. */
  readonly issuer: string;
  /** `iss` without the scheme: the identity pool's Logins key. */
  readonly loginsKey: string;
  readonly jwksUri: string;
  /** Requests per operation and endpoint, counted whether they succeed or fail. */
  readonly calls: Readonly<Record<UserPoolOperation, number>>;
  /** Every code "sent" by SMS or email, oldest first. */
  readonly messages: readonly SentMessage[];
  createClient(spec?: UserPoolClientSpec): UserPoolClientInfo;
  createUser(spec: UserSpec): UserInfo;
  /** The last code sent to the user (on `channel`, or on either). */
  lastCode(username: string, channel?: 'sms' | 'email'): string | undefined;
  /** The current RFC 6238 code of the user's TOTP secret (the pending one during enrolment). */
  totpCode(username: string, atMs?: number): string;
  devices(username: string): readonly DeviceInfo[];
  /** Like AdminDisableUser / AdminEnableUser: a disabled user's sign-ins and refreshes answer "User is disabled.". */
  setUserEnabled(username: string, enabled: boolean): void;
  /**
   * A provider entry for startIdentityPoolEmulator's `providers`. Without `clientIds` it
   * trusts every client of this pool, also those created afterwards (the list is live).
   */
  identityProvider(clientIds?: readonly string[]): IdentityProviderConfig;
  /** Answer the next `times` calls of `operation` with `fault` (outage and throttling tests). */
  failNext(operation: UserPoolOperation, fault: EmulatorFault, times?: number): void;
  close(): Promise<void>;
}

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_ID_TOKEN_SECONDS = 3600;
export const DEFAULT_ACCESS_TOKEN_SECONDS = 3600;
export const DEFAULT_REFRESH_TOKEN_SECONDS = 30 * 24 * 3600;
export const DEFAULT_SESSION_SECONDS = 180;
export const DEFAULT_MAX_CODE_ATTEMPTS = 3;
export const MAX_GRACE_PERIOD_SECONDS = 60;
const DEFAULT_PHONE_NUMBER = '+15555550100';
const MAX_BODY_BYTES = 64 * 1024;
const TARGET_PREFIX = 'AWSCognitoIdentityProviderService.';
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ACCESS_SCOPE = 'aws.cognito.signin.user.admin';
const SESSION_BYTES = 192;
// Real SECRET_BLOCKs are about 1 KB of opaque base64.
const SECRET_BLOCK_BYTES = 720;
const CODE_DIGITS = 6;
const INCORRECT_CREDENTIALS = 'Incorrect username or password.';
const MFA_METHOD_CHALLENGES = { sms: 'SMS_MFA', totp: 'SOFTWARE_TOKEN_MFA', email: 'EMAIL_OTP' } as const;
const MFA_CODE_PARAMETERS = { SMS_MFA: 'SMS_MFA_CODE', SOFTWARE_TOKEN_MFA: 'SOFTWARE_TOKEN_MFA_CODE', EMAIL_OTP: 'EMAIL_OTP_CODE' } as const;
const ALL_AUTH_FLOWS: readonly AuthFlow[] = ['USER_SRP_AUTH', 'USER_PASSWORD_AUTH', 'REFRESH_TOKEN_AUTH'];
const OPERATIONS: readonly UserPoolOperation[] = [
  'InitiateAuth',
  'RespondToAuthChallenge',
  'AssociateSoftwareToken',
  'VerifySoftwareToken',
  'ConfirmDevice',
  'UpdateDeviceStatus',
  'ForgetDevice',
  'GetTokensFromRefreshToken',
  'RevokeToken',
  'GlobalSignOut',
  'GetUser',
  'oauth2/authorize',
  'oauth2/token',
  'oauth2/revoke',
  'oauth2/userInfo',
];
/** The operations behind X-Amz-Target (the rest are the managed login's HTTP endpoints). */
const API_OPERATIONS = OPERATIONS.filter((op): op is Exclude<UserPoolOperation, OAuthEndpoint> => !op.includes('/'));

/** An error answered on the wire as `{"__type": type, "message": message}`. */
export class UserPoolFault extends AwsJsonFault {
  override readonly name = 'UserPoolFault';
}

/** SECRET_HASH: base64 HMAC-SHA256 keyed with the client secret over username + client id. */
export function secretHash(username: string, clientId: string, clientSecret: string): string {
  return createHmac('sha256', clientSecret).update(`${username}${clientId}`).digest('base64');
}

export async function startUserPoolEmulator(options: UserPoolEmulatorOptions = {}): Promise<UserPoolEmulator> {
  const emulator = new Emulator(options);
  await emulator.start(options.host ?? '127.0.0.1', options.port ?? 0);
  return emulator;
}

type MfaChallenge = (typeof MFA_METHOD_CHALLENGES)[MfaMethod];
type ChallengeName =
  | 'PASSWORD_VERIFIER'
  | 'NEW_PASSWORD_REQUIRED'
  | MfaChallenge
  | 'SELECT_MFA_TYPE'
  | 'MFA_SETUP'
  | 'DEVICE_SRP_AUTH'
  | 'DEVICE_PASSWORD_VERIFIER';
type Input = Record<string, unknown>;
type Parameters = Record<string, string>;

interface ClientState extends UserPoolClientInfo {
  lifetimes: Required<TokenLifetimes>;
  authFlows: ReadonlySet<AuthFlow>;
}

interface DeviceState extends DeviceInfo {
  verifier?: SrpVerifier;
}

interface UserState {
  username: string;
  sub: string;
  password: string;
  verifier: SrpVerifier;
  email?: string;
  emailAlias: boolean;
  phoneNumber?: string;
  attributes: Record<string, string>;
  methods: MfaMethod[];
  preferred?: MfaMethod;
  mfaRequired: boolean;
  totpSecret?: string;
  pendingTotpSecret?: string;
  forceNewPassword: boolean;
  requiredAttributes: string[];
  groups: UserGroup[];
  enabled: boolean;
  devices: Map<string, DeviceState>;
}

/** Which steps of one sign-in are behind it. */
interface FlowProgress {
  newPassword: boolean;
  mfa: boolean;
  device: boolean;
}

interface FlowContext {
  client: ClientState;
  user: UserState;
  /** The DEVICE_KEY the caller presented. */
  deviceKey: string | undefined;
  /** Epoch seconds of the sign-in. */
  authTime: number;
  done: FlowProgress;
}

interface AuthSession {
  readonly id: string;
  readonly clientId: string;
  /** Undefined for an unknown user's decoy SRP challenge (the proof can never verify). */
  readonly username: string | undefined;
  readonly challenge: ChallengeName;
  readonly expiresAt: number;
  readonly authTime: number;
  readonly done: FlowProgress;
  deviceKey: string | undefined;
  attempts: number;
  used: boolean;
  dead: boolean;
  srp?: { exchange: SrpExchange; secretBlock: string; srpA: string };
  code?: string;
  mfaChoices?: MfaChallenge[];
  totpVerified?: boolean;
}

interface AuthenticationResult {
  AccessToken: string;
  ExpiresIn: number;
  TokenType: 'Bearer';
  IdToken: string;
  RefreshToken?: string;
  NewDeviceMetadata?: { DeviceKey: string; DeviceGroupKey: string };
}

type AuthResponse =
  | { ChallengeName: ChallengeName; ChallengeParameters: Parameters; Session?: string }
  | { ChallengeParameters: Parameters; AuthenticationResult: AuthenticationResult };

class Emulator implements UserPoolEmulator {
  readonly region: string;
  readonly userPoolId: string;
  readonly calls = Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as Record<UserPoolOperation, number>;
  readonly messages: SentMessage[] = [];
  url = '';
  port = 0;
  issuer = '';
  loginsKey = '';
  jwksUri = '';

  private readonly server: Server;
  private readonly now: () => number;
  private readonly poolName: string;
  private readonly deviceTracking: boolean;
  private readonly deviceUserPrompt: boolean;
  private readonly sessionMs: number;
  private readonly maxCodeAttempts: number;
  private readonly defaultLifetimes: Required<TokenLifetimes>;
  private readonly authorizationCodeSeconds: number | undefined;
  private readonly clients = new Map<string, ClientState>();
  /** Every client id, in creation order; handed out live by identityProvider(). */
  private readonly clientIds: string[] = [];
  private readonly users = new Map<string, UserState>();
  private readonly aliases = new Map<string, string>();
  private readonly sessions = new Map<string, AuthSession>();
  private readonly sessionsBySecretBlock = new Map<string, AuthSession>();
  private readonly refreshTokens = new RefreshTokenStore();
  private readonly revokedFamilies = new Set<string>();
  private readonly faults: { operation: UserPoolOperation; fault: EmulatorFault; remaining: number }[] = [];
  private signer: TokenSigner | undefined;
  private managedLogin: ManagedLogin | undefined;

  constructor(options: UserPoolEmulatorOptions) {
    this.region = options.region ?? DEFAULT_REGION;
    this.userPoolId = options.userPoolId ?? `${this.region}_${randomId(9, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`;
    const poolName = this.userPoolId.split('_')[1];
    if (!poolName) throw new Error(`userPoolId must look like <region>_<name>: ${this.userPoolId}`);
    this.poolName = poolName;
    this.now = options.now ?? Date.now;
    this.deviceTracking = options.deviceTracking !== undefined && options.deviceTracking !== false;
    this.deviceUserPrompt = typeof options.deviceTracking === 'object' && options.deviceTracking.onlyRememberedOnUserPrompt === true;
    this.sessionMs = (options.sessionSeconds ?? DEFAULT_SESSION_SECONDS) * 1000;
    this.maxCodeAttempts = options.maxCodeAttempts ?? DEFAULT_MAX_CODE_ATTEMPTS;
    this.authorizationCodeSeconds = options.authorizationCodeSeconds;
    this.defaultLifetimes = resolveLifetimes(options.lifetimes, {
      idTokenSeconds: DEFAULT_ID_TOKEN_SECONDS,
      accessTokenSeconds: DEFAULT_ACCESS_TOKEN_SECONDS,
      refreshTokenSeconds: DEFAULT_REFRESH_TOKEN_SECONDS,
    });
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(host: string, port: number): Promise<void> {
    ({ port: this.port, url: this.url } = await listen(this.server, host, port));
    this.issuer = `${this.url}/${this.userPoolId}`;
    this.loginsKey = this.issuer.replace(/^https?:\/\//, '');
    this.jwksUri = `${this.issuer}/.well-known/jwks.json`;
    this.signer = await TokenSigner.create(this.issuer);
    const signer = this.signer;
    this.managedLogin = createManagedLogin({
      url: this.url,
      issuer: this.issuer,
      userPoolId: this.userPoolId,
      authorizationCodeSeconds: this.authorizationCodeSeconds,
      now: () => this.now(),
      jwks: () => signer.jwks(),
      count: (endpoint) => {
        this.calls[endpoint] += 1;
        this.throwInjectedFault(endpoint);
      },
      client: (clientId) => this.clients.get(clientId),
      checkPassword: (username, password) => this.checkHostedUiPassword(username, password),
      issueTokens: (username, clientId) => this.issueForManagedLogin(username, clientId),
      refresh: (refreshToken, clientId) => this.refreshForManagedLogin(refreshToken, clientId),
      revoke: (token, clientId) => this.revokeRefreshToken(token, clientId),
      userInfo: (accessToken) => this.userInfo(accessToken),
    });
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  // --- test hooks --------------------------------------------------------------------

  createClient(spec: UserPoolClientSpec = {}): UserPoolClientInfo {
    const clientId = spec.clientId ?? randomId(26, ALPHANUMERIC);
    if (this.clients.has(clientId)) throw new Error(`client ${clientId} exists`);
    const grace = spec.gracePeriodSeconds ?? 0;
    if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_PERIOD_SECONDS) {
      throw new RangeError(`gracePeriodSeconds must be an integer from 0 to ${MAX_GRACE_PERIOD_SECONDS}`);
    }
    const rotation = spec.rotation ?? false;
    const clientSecret = spec.secret === true ? randomId(51, ALPHANUMERIC) : typeof spec.secret === 'string' ? spec.secret : undefined;
    const flows = new Set(spec.authFlows ?? ALL_AUTH_FLOWS);
    // A rotating client cannot allow REFRESH_TOKEN_AUTH (developer guide, "Refresh token rotation").
    if (rotation) flows.delete('REFRESH_TOKEN_AUTH');
    const client: ClientState = {
      clientId,
      name: spec.name ?? `client-${clientId.slice(0, 6)}`,
      ...(clientSecret !== undefined ? { clientSecret } : {}),
      rotation,
      gracePeriodSeconds: grace,
      deviceTracking: spec.deviceTracking ?? this.deviceTracking,
      callbackUrls: [...(spec.callbackUrls ?? [])],
      lifetimes: resolveLifetimes(spec.lifetimes, this.defaultLifetimes),
      authFlows: flows,
    };
    this.clients.set(clientId, client);
    this.clientIds.push(clientId);
    return publicClient(client);
  }

  createUser(spec: UserSpec): UserInfo {
    if (this.users.has(spec.username)) throw new Error(`user ${spec.username} exists`);
    const { methods, preferred } = normaliseMfa(spec.mfa);
    const totpSecret = spec.totpSecret ?? (methods.includes('totp') ? generateTotpSecret() : undefined);
    const user: UserState = {
      username: spec.username,
      sub: randomUUID(),
      password: spec.password,
      verifier: createPasswordVerifier(this.poolName, spec.username, spec.password),
      ...(spec.email !== undefined ? { email: spec.email } : {}),
      emailAlias: spec.emailAlias ?? false,
      ...(spec.phoneNumber !== undefined || methods.includes('sms') ? { phoneNumber: spec.phoneNumber ?? DEFAULT_PHONE_NUMBER } : {}),
      attributes: { ...spec.attributes },
      methods,
      ...(preferred !== undefined ? { preferred } : {}),
      mfaRequired: spec.mfaRequired ?? false,
      ...(totpSecret !== undefined ? { totpSecret } : {}),
      forceNewPassword: spec.forceNewPassword ?? false,
      requiredAttributes: [...(spec.requiredAttributes ?? [])],
      groups: [...(spec.groups ?? [])],
      enabled: spec.enabled ?? true,
      devices: new Map(),
    };
    if (user.emailAlias) {
      if (!user.email) throw new Error('emailAlias needs an email');
      this.aliases.set(user.email.toLowerCase(), user.username);
    }
    this.users.set(user.username, user);
    return { username: user.username, sub: user.sub, ...(totpSecret !== undefined ? { totpSecret } : {}) };
  }

  lastCode(username: string, channel?: 'sms' | 'email'): string | undefined {
    for (let i = this.messages.length - 1; i >= 0; i -= 1) {
      const message = this.messages[i] as SentMessage;
      if (message.username === username && (channel === undefined || message.channel === channel)) return message.code;
    }
    return undefined;
  }

  totpCode(username: string, atMs = this.now()): string {
    const user = this.users.get(username);
    const secret = user?.pendingTotpSecret ?? user?.totpSecret;
    if (!secret) throw new Error(`user ${username} has no TOTP secret`);
    return computeTotp(secret, atMs);
  }

  devices(username: string): readonly DeviceInfo[] {
    const user = this.users.get(username);
    if (!user) return [];
    return [...user.devices.values()].map(({ deviceKey, deviceGroupKey, name, confirmed, remembered }) => ({
      deviceKey,
      deviceGroupKey,
      ...(name !== undefined ? { name } : {}),
      confirmed,
      remembered,
    }));
  }

  setUserEnabled(username: string, enabled: boolean): void {
    const user = this.users.get(username);
    if (!user) throw new Error(`no user ${username}`);
    user.enabled = enabled;
  }

  identityProvider(clientIds?: readonly string[]): IdentityProviderConfig {
    return { issuer: this.issuer, jwksUri: this.jwksUri, clientIds: clientIds ? [...clientIds] : this.clientIds };
  }

  failNext(operation: UserPoolOperation, fault: EmulatorFault, times = 1): void {
    this.faults.push({ operation, fault, remaining: times });
  }

  // --- HTTP ----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path !== '/' && this.managedLogin) {
      try {
        if (await this.managedLogin.handle(req, res)) return;
      } catch {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
        return;
      }
    }
    const requestId = randomUUID();
    try {
      sendAwsJson(res, 200, requestId, await this.dispatch(req, path));
    } catch (error) {
      const fault = error instanceof AwsJsonFault ? error : new UserPoolFault('InternalErrorException', 'An internal error occurred.', 500);
      sendAwsJson(res, fault.status, requestId, { __type: fault.type, message: fault.message });
    }
  }

  private async dispatch(req: IncomingMessage, path: string): Promise<unknown> {
    if (req.method !== 'POST' || path !== '/') {
      req.resume();
      throw new UserPoolFault('UnknownOperationException', `No operation at ${req.method} ${req.url}.`, 404);
    }
    const tooLarge = () => new UserPoolFault('SerializationException', `Request body larger than ${MAX_BODY_BYTES} bytes.`, 413);
    const body = (await readBody(req, MAX_BODY_BYTES, tooLarge)).toString('utf8');
    const operation = parseTarget(req.headers['x-amz-target'], TARGET_PREFIX, API_OPERATIONS);
    this.calls[operation] += 1;
    this.throwInjectedFault(operation);
    const input = parseInput(body);
    switch (operation) {
      case 'InitiateAuth':
        return this.initiateAuth(input);
      case 'RespondToAuthChallenge':
        return this.respondToAuthChallenge(input);
      case 'AssociateSoftwareToken':
        return this.associateSoftwareToken(input);
      case 'VerifySoftwareToken':
        return this.verifySoftwareToken(input);
      case 'ConfirmDevice':
        return this.confirmDevice(input);
      case 'UpdateDeviceStatus':
        return this.updateDeviceStatus(input);
      case 'ForgetDevice':
        return this.forgetDevice(input);
      case 'GetTokensFromRefreshToken':
        return this.getTokensFromRefreshToken(input);
      case 'RevokeToken':
        return this.revokeToken(input);
      case 'GlobalSignOut':
        return this.globalSignOut(input);
      default:
        return this.getUser(input);
    }
  }

  private throwInjectedFault(operation: UserPoolOperation): void {
    const index = this.faults.findIndex((f) => f.operation === operation);
    const entry = this.faults[index];
    if (!entry) return;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.faults.splice(index, 1);
    const { type, status = 400, message = `Injected ${type}.` } = entry.fault;
    throw new UserPoolFault(type, message, status);
  }

  // --- InitiateAuth ----------------------------------------------------------------------

  private async initiateAuth(input: Input): Promise<AuthResponse> {
    const client = this.requireClient(input);
    const flow = requireString(input, 'AuthFlow');
    const params = stringMap(input, 'AuthParameters');
    if (!isAuthFlow(flow) || !client.authFlows.has(flow)) {
      throw new UserPoolFault('InvalidParameterException', `${flow} flow not enabled for this client`);
    }
    if (flow === 'REFRESH_TOKEN_AUTH') {
      const token = params['REFRESH_TOKEN'];
      if (!token) throw missingParameter('REFRESH_TOKEN');
      const result = await this.refresh(client, token, params['DEVICE_KEY'], 'REFRESH_TOKEN_AUTH', (username) =>
        this.checkSecretHash(client, username, params['SECRET_HASH']),
      );
      return { ChallengeParameters: {}, AuthenticationResult: result };
    }
    const username = params['USERNAME'];
    if (!username) throw missingParameter('USERNAME');
    this.checkSecretHash(client, username, params['SECRET_HASH']);
    const user = this.findUser(username);
    const authTime = Math.floor(this.now() / 1000);
    const done: FlowProgress = { newPassword: false, mfa: false, device: false };
    if (flow === 'USER_PASSWORD_AUTH') {
      const password = params['PASSWORD'];
      if (!password) throw missingParameter('PASSWORD');
      if (!user || user.password !== password) throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
      this.requireEnabled(user);
      return this.advance({ client, user, deviceKey: params['DEVICE_KEY'], authTime, done });
    }
    const srpA = params['SRP_A'];
    if (!srpA) throw missingParameter('SRP_A');
    if (!isValidSrpA(srpA)) throw new UserPoolFault('InvalidParameterException', 'SRP_A is not a valid SRP public value.');
    // An unknown user gets a decoy challenge, as a pool that prevents user-existence errors.
    const verifier = user?.verifier.verifier ?? createPasswordVerifier(this.poolName, username, randomUUID()).verifier;
    const saltHex = user?.verifier.saltHex ?? randomBytes(16).toString('hex');
    const session = this.newSession(client.clientId, user?.username, 'PASSWORD_VERIFIER', authTime, done, params['DEVICE_KEY']);
    const secretBlock = randomBytes(SECRET_BLOCK_BYTES).toString('base64');
    const exchange = startSrpExchange(verifier);
    session.srp = { exchange, secretBlock, srpA };
    this.sessionsBySecretBlock.set(secretBlock, session);
    const userIdForSrp = user?.username ?? username;
    // No Session: the client returns the SECRET_BLOCK, which identifies the exchange.
    return {
      ChallengeName: 'PASSWORD_VERIFIER',
      ChallengeParameters: {
        SALT: saltHex,
        SECRET_BLOCK: secretBlock,
        SRP_B: exchange.B.toString(16),
        USERNAME: userIdForSrp,
        USER_ID_FOR_SRP: userIdForSrp,
      },
    };
  }

  // --- RespondToAuthChallenge --------------------------------------------------------------

  private async respondToAuthChallenge(input: Input): Promise<AuthResponse> {
    const client = this.requireClient(input);
    const challenge = requireString(input, 'ChallengeName');
    const responses = stringMap(input, 'ChallengeResponses');
    const username = responses['USERNAME'];
    if (!username) throw missingParameter('USERNAME');
    this.checkSecretHash(client, username, responses['SECRET_HASH']);
    // PASSWORD_VERIFIER comes without a Session: its SECRET_BLOCK names the exchange.
    const session =
      challenge === 'PASSWORD_VERIFIER'
        ? this.sessionBySecretBlock(responses['PASSWORD_CLAIM_SECRET_BLOCK'])
        : this.takeSession(optionalString(input, 'Session'), client);
    this.checkSessionUsable(session, client);
    if (session.challenge !== challenge) {
      throw new UserPoolFault('InvalidParameterException', `Invalid challenge name ${challenge}: this session expects ${session.challenge}.`);
    }
    if (session.username === undefined) {
      // The decoy of an unknown user: the proof never verifies.
      session.used = true;
      throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    }
    const user = this.users.get(session.username);
    if (!user || !this.identifies(user, username)) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    const context: FlowContext = {
      client,
      user,
      deviceKey: responses['DEVICE_KEY'] ?? session.deviceKey,
      authTime: session.authTime,
      done: { ...session.done },
    };
    switch (session.challenge) {
      case 'PASSWORD_VERIFIER':
        return this.answerPasswordVerifier(session, context, responses);
      case 'NEW_PASSWORD_REQUIRED':
        return this.answerNewPassword(session, context, responses);
      case 'SMS_MFA':
      case 'SOFTWARE_TOKEN_MFA':
      case 'EMAIL_OTP':
        return this.answerMfaCode(session, context, responses);
      case 'SELECT_MFA_TYPE':
        return this.answerSelectMfaType(session, context, responses);
      case 'MFA_SETUP':
        if (!session.totpVerified) {
          throw new UserPoolFault('InvalidParameterException', 'Software token MFA has not been verified in this session (VerifySoftwareToken).');
        }
        session.used = true;
        return this.advance({ ...context, done: { ...context.done, mfa: true } });
      case 'DEVICE_SRP_AUTH':
        return this.answerDeviceSrpAuth(session, context, responses);
      case 'DEVICE_PASSWORD_VERIFIER':
        return this.answerDevicePasswordVerifier(session, context, responses);
    }
  }

  private answerPasswordVerifier(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    session.used = true;
    const srp = session.srp;
    if (!srp || responses['PASSWORD_CLAIM_SECRET_BLOCK'] !== srp.secretBlock) {
      throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    }
    this.verifyClaim(srp, [this.poolName, context.user.username], responses);
    this.requireEnabled(context.user);
    return this.advance(context);
  }

  private answerNewPassword(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const password = responses['NEW_PASSWORD'];
    if (!password) throw missingParameter('NEW_PASSWORD');
    const problem = passwordPolicyProblem(password);
    if (problem) throw new UserPoolFault('InvalidPasswordException', `Password does not conform to policy: ${problem}`);
    const { user } = context;
    const given = Object.fromEntries(
      Object.entries(responses)
        .filter(([key]) => key.startsWith('userAttributes.'))
        .map(([key, value]) => [key.slice('userAttributes.'.length), value]),
    );
    const missing = missingRequiredAttributes(user).filter((name) => !given[name]);
    if (missing.length > 0) {
      throw new UserPoolFault('InvalidParameterException', `Invalid attributes given, ${missing[0]} is missing`);
    }
    session.used = true;
    for (const [name, value] of Object.entries(given)) {
      if (name === 'email') user.email = value;
      else if (name === 'phone_number') user.phoneNumber = value;
      else user.attributes[name] = value;
    }
    user.password = password;
    user.verifier = createPasswordVerifier(this.poolName, user.username, password);
    user.forceNewPassword = false;
    return this.advance({ ...context, done: { ...context.done, newPassword: true } });
  }

  private answerMfaCode(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const challenge = session.challenge as MfaChallenge;
    const parameter = MFA_CODE_PARAMETERS[challenge];
    const code = responses[parameter];
    if (!code) throw missingParameter(parameter);
    const valid =
      challenge === 'SOFTWARE_TOKEN_MFA'
        ? context.user.totpSecret !== undefined && verifyTotp(context.user.totpSecret, code, this.now())
        : session.code !== undefined && safeEqual(code, session.code);
    if (!valid) {
      this.countWrongCode(session);
      throw new UserPoolFault('CodeMismatchException', 'Invalid code or auth state for the user.');
    }
    session.used = true;
    return this.advance({ ...context, done: { ...context.done, mfa: true } });
  }

  private answerSelectMfaType(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const answer = responses['ANSWER'];
    if (!answer) throw missingParameter('ANSWER');
    const choice = session.mfaChoices?.find((c) => c === answer);
    if (!choice) throw new UserPoolFault('InvalidParameterException', `ANSWER must be one of ${JSON.stringify(session.mfaChoices ?? [])}.`);
    session.used = true;
    return Promise.resolve(this.mfaChallenge(context, choice));
  }

  private answerDeviceSrpAuth(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const deviceKey = responses['DEVICE_KEY'];
    if (!deviceKey) throw missingParameter('DEVICE_KEY');
    const srpA = responses['SRP_A'];
    if (!srpA) throw missingParameter('SRP_A');
    if (!isValidSrpA(srpA)) throw new UserPoolFault('InvalidParameterException', 'SRP_A is not a valid SRP public value.');
    const device = context.user.devices.get(deviceKey);
    if (!device?.verifier || deviceKey !== session.deviceKey) {
      throw new UserPoolFault('ResourceNotFoundException', 'Device does not exist.');
    }
    session.used = true;
    const next = this.newSession(context.client.clientId, context.user.username, 'DEVICE_PASSWORD_VERIFIER', context.authTime, context.done, deviceKey);
    const secretBlock = randomBytes(SECRET_BLOCK_BYTES).toString('base64');
    const exchange = startSrpExchange(device.verifier.verifier);
    next.srp = { exchange, secretBlock, srpA };
    return Promise.resolve({
      ChallengeName: 'DEVICE_PASSWORD_VERIFIER',
      ChallengeParameters: {
        USERNAME: context.user.username,
        DEVICE_KEY: deviceKey,
        SALT: device.verifier.saltHex,
        SRP_B: exchange.B.toString(16),
        SECRET_BLOCK: secretBlock,
      },
      Session: next.id,
    });
  }

  private answerDevicePasswordVerifier(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    session.used = true;
    const deviceKey = session.deviceKey as string;
    const device = context.user.devices.get(deviceKey);
    const srp = session.srp;
    if (!device || !srp || responses['DEVICE_KEY'] !== deviceKey || responses['PASSWORD_CLAIM_SECRET_BLOCK'] !== srp.secretBlock) {
      throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    }
    this.verifyClaim(srp, [device.deviceGroupKey, deviceKey], responses);
    this.requireEnabled(context.user);
    return this.advance({ ...context, deviceKey, done: { ...context.done, device: true } });
  }

  /** PASSWORD_CLAIM_SIGNATURE over principal | SECRET_BLOCK | TIMESTAMP with the SRP key. */
  private verifyClaim(srp: NonNullable<AuthSession['srp']>, principal: readonly string[], responses: Parameters): void {
    const signature = responses['PASSWORD_CLAIM_SIGNATURE'];
    if (!signature) throw missingParameter('PASSWORD_CLAIM_SIGNATURE');
    const timestamp = responses['TIMESTAMP'];
    if (!timestamp) throw missingParameter('TIMESTAMP');
    const key = deriveClaimKey(srp.exchange, srp.srpA);
    // The timestamp must be exactly Cognito's format (`Sun Nov 2 14:05:09 UTC 2026`).
    if (!key || parseSrpTimestamp(timestamp) === undefined) throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    const expected = claimSignature(key, principal, srp.secretBlock, timestamp);
    if (!signaturesEqual(expected, signature)) throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
  }

  /** The next challenge of a sign-in whose password is verified, or its tokens. */
  private async advance(context: FlowContext): Promise<AuthResponse> {
    const { user, client, done } = context;
    if (user.forceNewPassword && !done.newPassword) {
      return this.challenge(context, 'NEW_PASSWORD_REQUIRED', {
        userAttributes: JSON.stringify(publicAttributes(user)),
        requiredAttributes: JSON.stringify(missingRequiredAttributes(user).map((name) => `userAttributes.${name}`)),
      });
    }
    const device = context.deviceKey !== undefined ? user.devices.get(context.deviceKey) : undefined;
    if (client.deviceTracking && device?.confirmed && device.remembered && device.verifier && !done.device) {
      // A remembered device proves itself with its own SRP verifier instead of MFA.
      return this.challenge(context, 'DEVICE_SRP_AUTH', {});
    }
    if (!done.mfa && !done.device) {
      const methods = user.methods.map((m) => MFA_METHOD_CHALLENGES[m]);
      const preferred = user.preferred !== undefined ? MFA_METHOD_CHALLENGES[user.preferred] : undefined;
      if (methods.length === 0 && user.mfaRequired) {
        return this.challenge(context, 'MFA_SETUP', { MFAS_CAN_SETUP: JSON.stringify(['SOFTWARE_TOKEN_MFA']) });
      }
      if (preferred !== undefined && methods.includes(preferred)) return this.mfaChallenge(context, preferred);
      if (methods.length === 1) return this.mfaChallenge(context, methods[0] as MfaChallenge);
      if (methods.length > 1) {
        const response = this.challenge(context, 'SELECT_MFA_TYPE', { MFAS_CAN_CHOOSE: JSON.stringify(methods) });
        (this.sessions.get(response.Session as string) as AuthSession).mfaChoices = methods;
        return response;
      }
    }
    return { ChallengeParameters: {}, AuthenticationResult: await this.signIn(context) };
  }

  private mfaChallenge(context: FlowContext, challenge: MfaChallenge): AuthResponse & { Session: string } {
    const { user } = context;
    if (challenge === 'SOFTWARE_TOKEN_MFA') return this.challenge(context, challenge, {});
    const channel = challenge === 'SMS_MFA' ? 'sms' : 'email';
    const destination = (channel === 'sms' ? user.phoneNumber : user.email) ?? '';
    const code = randomDigits(CODE_DIGITS);
    this.messages.push({ channel, username: user.username, destination, code, at: this.now() });
    const response = this.challenge(context, challenge, {
      CODE_DELIVERY_DELIVERY_MEDIUM: channel === 'sms' ? 'SMS' : 'EMAIL',
      CODE_DELIVERY_DESTINATION: channel === 'sms' ? maskPhone(destination) : maskEmail(destination),
    });
    (this.sessions.get(response.Session) as AuthSession).code = code;
    return response;
  }

  private challenge(context: FlowContext, name: ChallengeName, parameters: Parameters): AuthResponse & { Session: string } {
    const session = this.newSession(context.client.clientId, context.user.username, name, context.authTime, context.done, context.deviceKey);
    return { ChallengeName: name, ChallengeParameters: { USER_ID_FOR_SRP: context.user.username, ...parameters }, Session: session.id };
  }

  // --- sessions ---------------------------------------------------------------------------

  private newSession(
    clientId: string,
    username: string | undefined,
    challenge: ChallengeName,
    authTime: number,
    done: FlowProgress,
    deviceKey: string | undefined,
  ): AuthSession {
    this.dropExpiredSessions();
    const session: AuthSession = {
      id: randomBytes(SESSION_BYTES).toString('base64url'),
      clientId,
      username,
      challenge,
      expiresAt: this.now() + this.sessionMs,
      authTime,
      done: { ...done },
      deviceKey,
      attempts: 0,
      used: false,
      dead: false,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  private takeSession(id: string | undefined, client: ClientState): AuthSession {
    if (!id) throw missingParameter('Session');
    const session = this.sessions.get(id);
    if (!session || session.clientId !== client.clientId) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    return session;
  }

  private sessionBySecretBlock(secretBlock: string | undefined): AuthSession {
    if (!secretBlock) throw missingParameter('PASSWORD_CLAIM_SECRET_BLOCK');
    const session = this.sessionsBySecretBlock.get(secretBlock);
    if (!session) throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    return session;
  }

  private checkSessionUsable(session: AuthSession, client: ClientState): void {
    if (session.clientId !== client.clientId || session.dead) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    if (session.used) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user, session can only be used once.');
    if (this.now() >= session.expiresAt) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user, session is expired.');
  }

  /** A wrong code leaves the session usable for a few more tries, as real Cognito. */
  private countWrongCode(session: AuthSession): void {
    session.attempts += 1;
    if (session.attempts >= this.maxCodeAttempts) session.dead = true;
  }

  private dropExpiredSessions(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) {
      // Keep spent sessions a while so a reuse is answered "used once", not "invalid".
      if (now >= session.expiresAt + this.sessionMs) {
        this.sessions.delete(id);
        if (session.srp) this.sessionsBySecretBlock.delete(session.srp.secretBlock);
      }
    }
  }

  // --- TOTP enrolment -------------------------------------------------------------------------

  private async associateSoftwareToken(input: Input): Promise<{ SecretCode: string; Session?: string }> {
    const secret = generateTotpSecret();
    const sessionId = optionalString(input, 'Session');
    if (sessionId !== undefined) {
      const session = this.enrolmentSession(sessionId);
      const user = this.users.get(session.username as string) as UserState;
      user.pendingTotpSecret = secret;
      session.used = true;
      const next = this.continueSession(session, {});
      return { SecretCode: secret, Session: next.id };
    }
    const { user } = await this.requireAccessToken(input);
    user.pendingTotpSecret = secret;
    return { SecretCode: secret };
  }

  private async verifySoftwareToken(input: Input): Promise<{ Status: 'SUCCESS'; Session?: string }> {
    const code = requireString(input, 'UserCode');
    const sessionId = optionalString(input, 'Session');
    const session = sessionId !== undefined ? this.enrolmentSession(sessionId) : undefined;
    const user = session ? (this.users.get(session.username as string) as UserState) : (await this.requireAccessToken(input)).user;
    const pending = user.pendingTotpSecret;
    if (!pending) throw new UserPoolFault('InvalidParameterException', 'No software token is being associated (call AssociateSoftwareToken first).');
    if (!verifyTotp(pending, code, this.now())) {
      if (session) this.countWrongCode(session);
      throw new UserPoolFault('EnableSoftwareTokenMFAException', 'Code mismatch and fail enable Software Token MFA');
    }
    user.totpSecret = pending;
    delete user.pendingTotpSecret;
    if (!user.methods.includes('totp')) user.methods.push('totp');
    user.preferred ??= 'totp';
    if (!session) return { Status: 'SUCCESS' };
    session.used = true;
    return { Status: 'SUCCESS', Session: this.continueSession(session, { totpVerified: true }).id };
  }

  private enrolmentSession(id: string): AuthSession {
    const session = this.sessions.get(id);
    if (!session) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    const client = this.clients.get(session.clientId) as ClientState;
    this.checkSessionUsable(session, client);
    if (session.challenge !== 'MFA_SETUP') throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    return session;
  }

  /** A fresh Session id for the same challenge (each call hands out a new one). */
  private continueSession(session: AuthSession, extra: Partial<AuthSession>): AuthSession {
    const next = this.newSession(session.clientId, session.username, session.challenge, session.authTime, session.done, session.deviceKey);
    Object.assign(next, extra, { attempts: session.attempts });
    return next;
  }

  // --- devices ----------------------------------------------------------------------------

  private async confirmDevice(input: Input): Promise<{ UserConfirmationNecessary: boolean }> {
    const { user } = await this.requireAccessToken(input);
    const device = this.requireDevice(user, requireString(input, 'DeviceKey'));
    const config = input['DeviceSecretVerifierConfig'];
    const verifier = isPlainObject(config) && typeof config['PasswordVerifier'] === 'string' && typeof config['Salt'] === 'string'
      ? deviceVerifierFromConfig(config['PasswordVerifier'], config['Salt'])
      : undefined;
    if (!verifier) throw new UserPoolFault('InvalidParameterException', 'DeviceSecretVerifierConfig needs a PasswordVerifier and a Salt.');
    device.verifier = verifier;
    device.confirmed = true;
    device.remembered = !this.deviceUserPrompt;
    const name = optionalString(input, 'DeviceName');
    if (name !== undefined) device.name = name;
    return { UserConfirmationNecessary: this.deviceUserPrompt };
  }

  private async updateDeviceStatus(input: Input): Promise<Record<string, never>> {
    const { user } = await this.requireAccessToken(input);
    const device = this.requireDevice(user, requireString(input, 'DeviceKey'));
    const status = optionalString(input, 'DeviceRememberedStatus');
    if (status !== undefined && status !== 'remembered' && status !== 'not_remembered') {
      throw new UserPoolFault('InvalidParameterException', `DeviceRememberedStatus must be remembered or not_remembered.`);
    }
    device.remembered = status === 'remembered';
    return {};
  }

  private async forgetDevice(input: Input): Promise<Record<string, never>> {
    const { user } = await this.requireAccessToken(input);
    const deviceKey = requireString(input, 'DeviceKey');
    this.requireDevice(user, deviceKey);
    user.devices.delete(deviceKey);
    return {};
  }

  private requireDevice(user: UserState, deviceKey: string): DeviceState {
    const device = user.devices.get(deviceKey);
    if (!device) throw new UserPoolFault('ResourceNotFoundException', 'Device does not exist.');
    return device;
  }

  // --- tokens ------------------------------------------------------------------------------

  /** Tokens for a completed sign-in: a new refresh-token family, and a new device when the pool tracks them. */
  private async signIn(context: FlowContext): Promise<AuthenticationResult> {
    const { user, client } = context;
    let deviceKey = context.deviceKey !== undefined && user.devices.has(context.deviceKey) ? context.deviceKey : undefined;
    let newDevice: DeviceState | undefined;
    if (client.deviceTracking && deviceKey === undefined) {
      newDevice = {
        deviceKey: `${this.region}_${randomUUID()}`,
        deviceGroupKey: `-${randomId(9, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`,
        confirmed: false,
        remembered: false,
      };
      user.devices.set(newDevice.deviceKey, newDevice);
      deviceKey = newDevice.deviceKey;
    }
    const now = this.now();
    const refresh = this.refreshTokens.issue({
      username: user.username,
      clientId: client.clientId,
      deviceKey: client.deviceTracking ? deviceKey : undefined,
      originJti: randomUUID(),
      issuedAt: now,
      expiresAt: now + client.lifetimes.refreshTokenSeconds * 1000,
      authTime: context.authTime,
    });
    const tokens = await this.mintTokens(user, client, refresh);
    return {
      ...tokens,
      RefreshToken: refresh.token,
      ...(newDevice ? { NewDeviceMetadata: { DeviceKey: newDevice.deviceKey, DeviceGroupKey: newDevice.deviceGroupKey } } : {}),
    };
  }

  private async mintTokens(user: UserState, client: ClientState, family: RefreshRecord): Promise<Omit<AuthenticationResult, 'RefreshToken'>> {
    const signer = this.signer as TokenSigner;
    const iat = Math.floor(this.now() / 1000);
    const eventId = randomUUID();
    const groups = [...user.groups].sort((a, b) => (a.precedence ?? 0) - (b.precedence ?? 0));
    const roles = groups.flatMap((g) => (g.roleArn !== undefined ? [g.roleArn] : []));
    const groupClaims = groups.length > 0 ? { 'cognito:groups': groups.map((g) => g.name) } : {};
    const roleClaims = roles.length > 0 ? { 'cognito:roles': roles, 'cognito:preferred_role': roles[0] } : {};
    const common = { sub: user.sub, origin_jti: family.originJti, event_id: eventId, auth_time: family.authTime };
    const idToken = await signer.sign(
      {
        ...common,
        ...groupClaims,
        ...roleClaims,
        ...publicAttributes(user),
        aud: client.clientId,
        token_use: 'id',
        'cognito:username': user.username,
      },
      iat,
      client.lifetimes.idTokenSeconds,
    );
    const accessToken = await signer.sign(
      {
        ...common,
        ...groupClaims,
        ...(family.deviceKey !== undefined ? { device_key: family.deviceKey } : {}),
        client_id: client.clientId,
        token_use: 'access',
        scope: ACCESS_SCOPE,
        username: user.username,
      },
      iat,
      client.lifetimes.accessTokenSeconds,
    );
    return { AccessToken: accessToken, ExpiresIn: client.lifetimes.accessTokenSeconds, TokenType: 'Bearer', IdToken: idToken };
  }

  /**
   * New tokens from a refresh token. With rotation (not for REFRESH_TOKEN_AUTH) a new refresh
   * token replaces the old one, which stays usable for the client's grace period and then
   * answers RefreshTokenReuseException; a retry inside the grace period gets the same successor.
   */
  private async refresh(
    client: ClientState,
    token: string,
    deviceKey: string | undefined,
    mode: 'REFRESH_TOKEN_AUTH' | 'GetTokensFromRefreshToken' | 'oauth',
    checkSecret: (username: string) => void,
  ): Promise<AuthenticationResult> {
    const record = this.refreshTokens.get(token);
    if (!record || record.clientId !== client.clientId) throw new UserPoolFault('NotAuthorizedException', 'Invalid Refresh Token.');
    checkSecret(record.username);
    const state = this.refreshTokens.state(record, this.now(), client.gracePeriodSeconds * 1000);
    if (state === 'revoked') throw new UserPoolFault('NotAuthorizedException', 'Refresh Token has been revoked');
    if (state === 'expired') throw new UserPoolFault('NotAuthorizedException', 'Refresh Token has expired');
    if (state === 'rotated') throw new UserPoolFault('RefreshTokenReuseException', 'Refresh token has been rotated and is no longer valid.');
    // A token bound to a remembered-device key refreshes only with that DEVICE_KEY.
    if (mode !== 'oauth' && record.deviceKey !== undefined && deviceKey !== record.deviceKey) {
      throw new UserPoolFault('NotAuthorizedException', 'Invalid Refresh Token.');
    }
    const user = this.users.get(record.username);
    if (!user) throw new UserPoolFault('NotAuthorizedException', 'Invalid Refresh Token.');
    this.requireEnabled(user);
    const tokens = await this.mintTokens(user, client, record);
    if (!client.rotation || mode === 'REFRESH_TOKEN_AUTH') return tokens;
    const successor = record.successor ?? this.refreshTokens.rotate(record, this.now()).token;
    return { ...tokens, RefreshToken: successor };
  }

  private async getTokensFromRefreshToken(input: Input): Promise<{ AuthenticationResult: AuthenticationResult }> {
    const client = this.requireClient(input);
    const token = requireString(input, 'RefreshToken');
    const secret = optionalString(input, 'ClientSecret');
    const result = await this.refresh(client, token, optionalString(input, 'DeviceKey'), 'GetTokensFromRefreshToken', () =>
      this.checkClientSecret(client, secret, 'NotAuthorizedException'),
    );
    return { AuthenticationResult: result };
  }

  private revokeToken(input: Input): Record<string, never> {
    const client = this.requireClient(input);
    const token = requireString(input, 'Token');
    this.checkClientSecret(client, optionalString(input, 'ClientSecret'), 'UnauthorizedException');
    const outcome = this.revokeRefreshToken(token, client.clientId);
    if (outcome === 'unsupported') throw new UserPoolFault('UnsupportedTokenTypeException', 'Only refresh tokens can be revoked.');
    if (outcome === 'unauthorized') throw new UserPoolFault('UnauthorizedException', 'The token was not issued to this client.');
    return {};
  }

  /** Revokes the token's family (and the access tokens of it); unknown tokens are ignored, as RFC 7009. */
  private revokeRefreshToken(token: string, clientId: string): 'ok' | 'unauthorized' | 'unsupported' {
    const record = this.refreshTokens.get(token);
    if (!record) return token.split('.').length === 3 ? 'unsupported' : 'ok';
    if (record.clientId !== clientId) return 'unauthorized';
    this.refreshTokens.revokeFamily(record.originJti);
    this.revokedFamilies.add(record.originJti);
    return 'ok';
  }

  private async globalSignOut(input: Input): Promise<Record<string, never>> {
    const { user } = await this.requireAccessToken(input);
    for (const family of this.refreshTokens.revokeUser(user.username)) this.revokedFamilies.add(family);
    return {};
  }

  private async getUser(input: Input): Promise<unknown> {
    const { user } = await this.requireAccessToken(input);
    const attributes = { sub: user.sub, ...publicAttributes(user) };
    const mfaSettings = user.methods.map((m) => MFA_METHOD_CHALLENGES[m]);
    return {
      Username: user.username,
      UserAttributes: Object.entries(attributes).map(([Name, Value]) => ({ Name, Value: String(Value) })),
      ...(mfaSettings.length > 0 ? { UserMFASettingList: mfaSettings } : {}),
      ...(user.preferred !== undefined ? { PreferredMfaSetting: MFA_METHOD_CHALLENGES[user.preferred] } : {}),
    };
  }

  private async requireAccessToken(input: Input): Promise<{ user: UserState; claims: AccessTokenClaims }> {
    const token = requireString(input, 'AccessToken');
    const claims = await (this.signer as TokenSigner).verifyAccessToken(token, this.now());
    if (!claims) throw new UserPoolFault('NotAuthorizedException', 'Invalid Access Token');
    if (this.revokedFamilies.has(claims.origin_jti)) throw new UserPoolFault('NotAuthorizedException', 'Access Token has been revoked');
    const user = this.users.get(claims.username);
    if (!user) throw new UserPoolFault('NotAuthorizedException', 'Invalid Access Token');
    this.requireEnabled(user);
    return { user, claims };
  }

  // --- managed login backend ----------------------------------------------------------------

  private checkHostedUiPassword(username: string, password: string): string | undefined {
    const user = this.findUser(username);
    return user && user.enabled && user.password === password ? user.username : undefined;
  }

  private async issueForManagedLogin(username: string, clientId: string): Promise<TokenSet> {
    const user = this.users.get(username) as UserState;
    const client = this.clients.get(clientId) as ClientState;
    // Managed login has no device step: its refresh tokens are not bound to a device.
    const result = await this.signIn({
      client: { ...client, deviceTracking: false },
      user,
      deviceKey: undefined,
      authTime: Math.floor(this.now() / 1000),
      done: { newPassword: true, mfa: true, device: false },
    });
    return toTokenSet(result);
  }

  private async refreshForManagedLogin(refreshToken: string, clientId: string): Promise<TokenSet> {
    const client = this.clients.get(clientId) as ClientState;
    try {
      return toTokenSet(await this.refresh(client, refreshToken, undefined, 'oauth', () => undefined));
    } catch (error) {
      if (error instanceof AwsJsonFault) throw new OAuthError('invalid_grant', error.message);
      throw error;
    }
  }

  private async userInfo(accessToken: string): Promise<Record<string, unknown> | undefined> {
    try {
      const { user } = await this.requireAccessToken({ AccessToken: accessToken });
      return { sub: user.sub, username: user.username, ...publicAttributes(user) };
    } catch {
      return undefined;
    }
  }

  // --- shared checks ---------------------------------------------------------------------------

  private requireClient(input: Input): ClientState {
    const clientId = requireString(input, 'ClientId');
    const client = this.clients.get(clientId);
    if (!client) throw new UserPoolFault('ResourceNotFoundException', `User pool client ${clientId} does not exist.`);
    return client;
  }

  private findUser(name: string): UserState | undefined {
    const direct = this.users.get(name);
    if (direct) return direct;
    const aliased = this.aliases.get(name.toLowerCase());
    return aliased !== undefined ? this.users.get(aliased) : undefined;
  }

  private identifies(user: UserState, name: string): boolean {
    return name === user.username || (user.emailAlias && user.email?.toLowerCase() === name.toLowerCase());
  }

  private requireEnabled(user: UserState): void {
    if (!user.enabled) throw new UserPoolFault('NotAuthorizedException', 'User is disabled.');
  }

  /** SECRET_HASH of a client with a secret, over the USERNAME the caller sent (cognito:username on refresh). */
  private checkSecretHash(client: ClientState, username: string, hash: string | undefined): void {
    if (client.clientSecret === undefined) return;
    if (!hash) {
      throw new UserPoolFault('NotAuthorizedException', `Client ${client.clientId} is configured with secret but SECRET_HASH was not received`);
    }
    if (!safeEqual(hash, secretHash(username, client.clientId, client.clientSecret))) {
      throw new UserPoolFault('NotAuthorizedException', `Unable to verify secret hash for client ${client.clientId}`);
    }
  }

  private checkClientSecret(client: ClientState, secret: string | undefined, type: string): void {
    if (client.clientSecret === undefined) return;
    if (secret === undefined) throw new UserPoolFault(type, `Client ${client.clientId} is configured with secret but ClientSecret was not received`);
    if (!safeEqual(secret, client.clientSecret)) throw new UserPoolFault(type, `Unable to verify secret for client ${client.clientId}`);
  }
}

// --- helpers ------------------------------------------------------------------------------

function publicClient(client: ClientState): UserPoolClientInfo {
  const { clientId, name, clientSecret, rotation, gracePeriodSeconds, deviceTracking, callbackUrls } = client;
  return { clientId, name, ...(clientSecret !== undefined ? { clientSecret } : {}), rotation, gracePeriodSeconds, deviceTracking, callbackUrls };
}

function resolveLifetimes(given: TokenLifetimes | undefined, defaults: Required<TokenLifetimes>): Required<TokenLifetimes> {
  return {
    idTokenSeconds: given?.idTokenSeconds ?? defaults.idTokenSeconds,
    accessTokenSeconds: given?.accessTokenSeconds ?? defaults.accessTokenSeconds,
    refreshTokenSeconds: given?.refreshTokenSeconds ?? defaults.refreshTokenSeconds,
  };
}

function normaliseMfa(mfa: UserSpec['mfa']): { methods: MfaMethod[]; preferred?: MfaMethod } {
  if (mfa === undefined) return { methods: [] };
  if (typeof mfa === 'string') return { methods: [mfa] };
  if (isMethodList(mfa)) return { methods: [...new Set(mfa)] };
  const methods = [...new Set(mfa.methods)];
  if (mfa.preferred !== undefined && !methods.includes(mfa.preferred)) throw new Error(`preferred MFA ${mfa.preferred} is not enrolled`);
  return { methods, ...(mfa.preferred !== undefined ? { preferred: mfa.preferred } : {}) };
}

function isMethodList(value: unknown): value is readonly MfaMethod[] {
  return Array.isArray(value);
}

/** The attributes a token and NEW_PASSWORD_REQUIRED show (never the password). */
function publicAttributes(user: UserState): Record<string, string | boolean> {
  return {
    ...user.attributes,
    ...(user.email !== undefined ? { email: user.email, email_verified: true } : {}),
    ...(user.phoneNumber !== undefined ? { phone_number: user.phoneNumber, phone_number_verified: true } : {}),
  };
}

function missingRequiredAttributes(user: UserState): string[] {
  const attributes = publicAttributes(user);
  return user.requiredAttributes.filter((name) => attributes[name] === undefined || attributes[name] === '');
}

/** Cognito's default policy: 8 characters, upper and lower case, a digit and a symbol. */
function passwordPolicyProblem(password: string): string | undefined {
  if (password.length < 8) return 'Password not long enough';
  if (!/[a-z]/.test(password)) return 'Password must have lowercase characters';
  if (!/[A-Z]/.test(password)) return 'Password must have uppercase characters';
  if (!/\d/.test(password)) return 'Password must have numeric characters';
  if (!/[^A-Za-z0-9]/.test(password)) return 'Password must have symbol characters';
  return undefined;
}

function toTokenSet(result: AuthenticationResult): TokenSet {
  return {
    id_token: result.IdToken,
    access_token: result.AccessToken,
    ...(result.RefreshToken !== undefined ? { refresh_token: result.RefreshToken } : {}),
    expires_in: result.ExpiresIn,
    token_type: 'Bearer',
  };
}

function isAuthFlow(flow: string): flow is AuthFlow {
  return (ALL_AUTH_FLOWS as readonly string[]).includes(flow);
}

function isValidSrpA(hex: string): boolean {
  return /^[0-9a-fA-F]{1,1024}$/.test(hex) && BigInt(`0x${hex}`) % SRP_N !== 0n;
}

function maskPhone(phone: string): string {
  return `+*******${phone.slice(-4)}`;
}

function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.charAt(0)}***@${domain.charAt(0)}***`;
}

function randomId(length: number, alphabet: string): string {
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

function randomDigits(count: number): string {
  return [...randomBytes(count)].map((b) => String(b % 10)).join('');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}



function requireString(input: Input, name: string): string {
  const value = input[name];
  if (value === undefined || value === null) {
    throw new UserPoolFault(
      'InvalidParameterException',
      `1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  if (typeof value !== 'string') throw new UserPoolFault('SerializationException', `${name} must be a string.`);
  return value;
}

function optionalString(input: Input, name: string): string | undefined {
  const value = input[name];
  return value === undefined || value === null ? undefined : requireString(input, name);
}

function stringMap(input: Input, name: string): Parameters {
  const value = input[name];
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new UserPoolFault('SerializationException', `${name} must map strings to strings.`);
  }
  return value as Parameters;
}

function missingParameter(name: string): UserPoolFault {
  return new UserPoolFault('InvalidParameterException', `Missing required parameter ${name}`);
}



function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
