/**
 * The pool's tokens: ID and access tokens (RS256 JWTs) and refresh-token families for a
 * completed sign-in, refresh with rotation and its grace period, revocation, and the
 * operations an access token authorises (GetUser, GlobalSignOut).
 */
import { randomUUID } from 'node:crypto';
import { AwsJsonFault } from '../aws-json-protocol.js';
import { optionalString, requireString, UserPoolFault, type Input } from './api-protocol.js';
import { MFA_METHOD_CHALLENGES, publicAttributes, type ClientState, type DeviceState, type UserDirectory, type UserState } from './directory.js';
import { OAuthError, type TokenSet } from './managed-login.js';
import { MIXED_CASE_ALPHANUMERIC, randomId } from './secrets.js';
import { RefreshTokenStore, type AccessTokenClaims, type RefreshRecord, type TokenSigner } from './tokens.js';

export interface AuthenticationResult {
  AccessToken: string;
  ExpiresIn: number;
  TokenType: 'Bearer';
  IdToken: string;
  RefreshToken?: string;
  NewDeviceMetadata?: { DeviceKey: string; DeviceGroupKey: string };
}

/** A sign-in whose every challenge is answered. */
export interface CompletedSignIn {
  client: ClientState;
  user: UserState;
  /** The DEVICE_KEY the caller presented. */
  deviceKey: string | undefined;
  /** Epoch seconds of the sign-in. */
  authTime: number;
}

const ACCESS_SCOPE = 'aws.cognito.signin.user.admin';

export class TokenService {
  private readonly refreshTokens = new RefreshTokenStore();
  private readonly revokedFamilies = new Set<string>();

  constructor(
    private readonly directory: UserDirectory,
    private readonly signer: TokenSigner,
    private readonly region: string,
    private readonly now: () => number,
  ) {}

  /** Tokens for a completed sign-in: a new refresh-token family, and a new device when the pool tracks them. */
  async signIn(context: CompletedSignIn): Promise<AuthenticationResult> {
    const { user, client } = context;
    let deviceKey = context.deviceKey !== undefined && user.devices.has(context.deviceKey) ? context.deviceKey : undefined;
    let newDevice: DeviceState | undefined;
    if (client.deviceTracking && deviceKey === undefined) {
      newDevice = {
        deviceKey: `${this.region}_${randomUUID()}`,
        deviceGroupKey: `-${randomId(9, MIXED_CASE_ALPHANUMERIC)}`,
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
    const signer = this.signer;
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
  async refresh(
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
    const user = this.directory.users.get(record.username);
    if (!user) throw new UserPoolFault('NotAuthorizedException', 'Invalid Refresh Token.');
    this.directory.requireEnabled(user);
    const tokens = await this.mintTokens(user, client, record);
    if (!client.rotation || mode === 'REFRESH_TOKEN_AUTH') return tokens;
    const successor = record.successor ?? this.refreshTokens.rotate(record, this.now()).token;
    return { ...tokens, RefreshToken: successor };
  }

  async getTokensFromRefreshToken(input: Input): Promise<{ AuthenticationResult: AuthenticationResult }> {
    const client = this.directory.requireClient(input);
    const token = requireString(input, 'RefreshToken');
    const secret = optionalString(input, 'ClientSecret');
    const result = await this.refresh(client, token, optionalString(input, 'DeviceKey'), 'GetTokensFromRefreshToken', () =>
      this.directory.checkClientSecret(client, secret, 'NotAuthorizedException'),
    );
    return { AuthenticationResult: result };
  }

  revokeToken(input: Input): Record<string, never> {
    const client = this.directory.requireClient(input);
    const token = requireString(input, 'Token');
    this.directory.checkClientSecret(client, optionalString(input, 'ClientSecret'), 'UnauthorizedException');
    const outcome = this.revokeRefreshToken(token, client.clientId);
    if (outcome === 'unsupported') throw new UserPoolFault('UnsupportedTokenTypeException', 'Only refresh tokens can be revoked.');
    if (outcome === 'unauthorized') throw new UserPoolFault('UnauthorizedException', 'The token was not issued to this client.');
    return {};
  }

  /** Revokes the token's family (and the access tokens of it); unknown tokens are ignored, as RFC 7009. */
  revokeRefreshToken(token: string, clientId: string): 'ok' | 'unauthorized' | 'unsupported' {
    const record = this.refreshTokens.get(token);
    if (!record) return token.split('.').length === 3 ? 'unsupported' : 'ok';
    if (record.clientId !== clientId) return 'unauthorized';
    this.refreshTokens.revokeFamily(record.originJti);
    this.revokedFamilies.add(record.originJti);
    return 'ok';
  }

  async globalSignOut(input: Input): Promise<Record<string, never>> {
    const { user } = await this.requireAccessToken(input);
    for (const family of this.refreshTokens.revokeUser(user.username)) this.revokedFamilies.add(family);
    return {};
  }

  async getUser(input: Input): Promise<unknown> {
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

  async requireAccessToken(input: Input): Promise<{ user: UserState; claims: AccessTokenClaims }> {
    const token = requireString(input, 'AccessToken');
    const claims = await this.signer.verifyAccessToken(token, this.now());
    if (!claims) throw new UserPoolFault('NotAuthorizedException', 'Invalid Access Token');
    if (this.revokedFamilies.has(claims.origin_jti)) throw new UserPoolFault('NotAuthorizedException', 'Access Token has been revoked');
    const user = this.directory.users.get(claims.username);
    if (!user) throw new UserPoolFault('NotAuthorizedException', 'Invalid Access Token');
    this.directory.requireEnabled(user);
    return { user, claims };
  }

  // --- the managed login's tokens ------------------------------------------------------------

  async issueForManagedLogin(username: string, clientId: string): Promise<TokenSet> {
    const user = this.directory.users.get(username) as UserState;
    const client = this.directory.clients.get(clientId) as ClientState;
    // Managed login has no device step: its refresh tokens are not bound to a device.
    const result = await this.signIn({
      client: { ...client, deviceTracking: false },
      user,
      deviceKey: undefined,
      authTime: Math.floor(this.now() / 1000),
    });
    return toTokenSet(result);
  }

  async refreshForManagedLogin(refreshToken: string, clientId: string): Promise<TokenSet> {
    const client = this.directory.clients.get(clientId) as ClientState;
    try {
      return toTokenSet(await this.refresh(client, refreshToken, undefined, 'oauth', () => undefined));
    } catch (error) {
      if (error instanceof AwsJsonFault) throw new OAuthError('invalid_grant', error.message);
      throw error;
    }
  }

  async userInfo(accessToken: string): Promise<Record<string, unknown> | undefined> {
    try {
      const { user } = await this.requireAccessToken({ AccessToken: accessToken });
      return { sub: user.sub, username: user.username, ...publicAttributes(user) };
    } catch {
      return undefined;
    }
  }
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
