/**
 * The pool's app clients and users (with their devices), as the emulator keeps them, and
 * the checks every operation makes of them: which client, which user, enabled, SECRET_HASH.
 */
import { randomUUID } from 'node:crypto';
import { requireString, UserPoolFault, type Input } from './api-protocol.js';
import { ALPHANUMERIC, randomId, safeEqual, secretHash } from './secrets.js';
import { createPasswordVerifier, type SrpVerifier } from './srp-server.js';
import { generateTotpSecret } from './totp.js';
import {
  MAX_GRACE_PERIOD_SECONDS,
  type AuthFlow,
  type DeviceInfo,
  type MfaMethod,
  type TokenLifetimes,
  type UserGroup,
  type UserInfo,
  type UserPoolClientInfo,
  type UserPoolClientSpec,
  type UserSpec,
} from './types.js';

export const MFA_METHOD_CHALLENGES = { sms: 'SMS_MFA', totp: 'SOFTWARE_TOKEN_MFA', email: 'EMAIL_OTP' } as const;
export type MfaChallenge = (typeof MFA_METHOD_CHALLENGES)[MfaMethod];
const ALL_AUTH_FLOWS: readonly AuthFlow[] = ['USER_SRP_AUTH', 'USER_PASSWORD_AUTH', 'REFRESH_TOKEN_AUTH'];
const DEFAULT_PHONE_NUMBER = '+15555550100';

export interface ClientState extends UserPoolClientInfo {
  lifetimes: Required<TokenLifetimes>;
  authFlows: ReadonlySet<AuthFlow>;
}

export interface DeviceState extends DeviceInfo {
  verifier?: SrpVerifier;
}

export interface UserState {
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

export class UserDirectory {
  readonly clients = new Map<string, ClientState>();
  /** Every client id, in creation order; handed out live by identityProvider(). */
  readonly clientIds: string[] = [];
  readonly users = new Map<string, UserState>();
  private readonly aliases = new Map<string, string>();

  constructor(
    /** The part of the pool id after the '_': SRP's pool name. */
    readonly poolName: string,
    private readonly deviceTracking: boolean,
    private readonly defaultLifetimes: Required<TokenLifetimes>,
  ) {}

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

  /** A new password, and the SRP verifier that goes with it. */
  setPassword(user: UserState, password: string): void {
    user.password = password;
    user.verifier = createPasswordVerifier(this.poolName, user.username, password);
  }

  /** The internal username when the user may sign in with this password (the managed login's form). */
  checkPassword(username: string, password: string): string | undefined {
    const user = this.findUser(username);
    return user && user.enabled && user.password === password ? user.username : undefined;
  }

  requireClient(input: Input): ClientState {
    const clientId = requireString(input, 'ClientId');
    const client = this.clients.get(clientId);
    if (!client) throw new UserPoolFault('ResourceNotFoundException', `User pool client ${clientId} does not exist.`);
    return client;
  }

  findUser(name: string): UserState | undefined {
    const direct = this.users.get(name);
    if (direct) return direct;
    const aliased = this.aliases.get(name.toLowerCase());
    return aliased !== undefined ? this.users.get(aliased) : undefined;
  }

  identifies(user: UserState, name: string): boolean {
    return name === user.username || (user.emailAlias && user.email?.toLowerCase() === name.toLowerCase());
  }

  requireEnabled(user: UserState): void {
    if (!user.enabled) throw new UserPoolFault('NotAuthorizedException', 'User is disabled.');
  }

  /** SECRET_HASH of a client with a secret, over the USERNAME the caller sent (cognito:username on refresh). */
  checkSecretHash(client: ClientState, username: string, hash: string | undefined): void {
    if (client.clientSecret === undefined) return;
    if (!hash) {
      throw new UserPoolFault('NotAuthorizedException', `Client ${client.clientId} is configured with secret but SECRET_HASH was not received`);
    }
    if (!safeEqual(hash, secretHash(username, client.clientId, client.clientSecret))) {
      throw new UserPoolFault('NotAuthorizedException', `Unable to verify secret hash for client ${client.clientId}`);
    }
  }

  checkClientSecret(client: ClientState, secret: string | undefined, type: string): void {
    if (client.clientSecret === undefined) return;
    if (secret === undefined) throw new UserPoolFault(type, `Client ${client.clientId} is configured with secret but ClientSecret was not received`);
    if (!safeEqual(secret, client.clientSecret)) throw new UserPoolFault(type, `Unable to verify secret for client ${client.clientId}`);
  }
}

function publicClient(client: ClientState): UserPoolClientInfo {
  const { clientId, name, clientSecret, rotation, gracePeriodSeconds, deviceTracking, callbackUrls } = client;
  return { clientId, name, ...(clientSecret !== undefined ? { clientSecret } : {}), rotation, gracePeriodSeconds, deviceTracking, callbackUrls };
}

export function resolveLifetimes(given: TokenLifetimes | undefined, defaults: Required<TokenLifetimes>): Required<TokenLifetimes> {
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
export function publicAttributes(user: UserState): Record<string, string | boolean> {
  return {
    ...user.attributes,
    ...(user.email !== undefined ? { email: user.email, email_verified: true } : {}),
    ...(user.phoneNumber !== undefined ? { phone_number: user.phoneNumber, phone_number_verified: true } : {}),
  };
}

export function missingRequiredAttributes(user: UserState): string[] {
  const attributes = publicAttributes(user);
  return user.requiredAttributes.filter((name) => attributes[name] === undefined || attributes[name] === '');
}

export function isAuthFlow(flow: string): flow is AuthFlow {
  return (ALL_AUTH_FLOWS as readonly string[]).includes(flow);
}
