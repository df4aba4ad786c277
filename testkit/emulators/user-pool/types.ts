/**
 * What the user-pool emulator shows its callers: options, the specs of clients and users,
 * what it tells about them, and the operations it counts.
 */
import type { EmulatorFault } from '../aws-json-protocol.js';
import type { IdentityProviderConfig } from '../identity-pool-emulator.js';

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

/** Every operation and endpoint the emulator counts (see `calls`). */
export const USER_POOL_OPERATIONS: readonly UserPoolOperation[] = [
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
export type ApiOperation = Exclude<UserPoolOperation, OAuthEndpoint>;
export const API_OPERATIONS = USER_POOL_OPERATIONS.filter((op): op is ApiOperation => !op.includes('/'));
