import type { AuthenticationResultType, ChallengeNameType, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { LoginRequiredError, UpstreamMalformedError } from '../errors.js';
import { awsSdk } from './aws-sdk.js';
import { readIdTokenClaims } from './jwt-claims.js';
import { secretHash } from './secret-hash.js';
import { type CognitoOperation, isUnknownOperation, translateAwsError } from './translate-aws-error.js';
import type { RefreshedTokens, RefreshRequest, SignInTokens, TokenRefresher, UserPoolTokens } from './types.js';

const {
  AssociateSoftwareTokenCommand,
  ConfirmDeviceCommand,
  GetTokensFromRefreshTokenCommand,
  GlobalSignOutCommand,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
  RevokeTokenCommand,
  UpdateDeviceStatusCommand,
  VerifySoftwareTokenCommand,
} = awsSdk();

/** A challenge the user pool asked us to answer before it hands out tokens. */
export interface AuthChallenge {
  readonly name: ChallengeNameType | string;
  /** Sent back unchanged; '' when the pool sent none (PASSWORD_VERIFIER may come without one). */
  readonly session: string;
  /** USERNAME for the answers: the pool's own name for the user (USER_ID_FOR_SRP) once known. */
  readonly username: string;
  readonly parameters: Readonly<Record<string, string>>;
}

/** A device the pool started tracking with this sign-in (AuthenticationResult.NewDeviceMetadata). */
export interface NewDeviceMetadata {
  readonly deviceKey: string;
  readonly deviceGroupKey: string;
}

export type SignInStep =
  | { readonly kind: 'signed-in'; readonly tokens: SignInTokens; readonly newDevice?: NewDeviceMetadata | undefined }
  | { readonly kind: 'challenge'; readonly challenge: AuthChallenge };

/** The password flows of InitiateAuth. */
export type PasswordAuthFlow = 'USER_SRP_AUTH' | 'USER_PASSWORD_AUTH';

/** What every call of one sign-in carries besides its own parameters. */
export interface SignInContext {
  /** The app client's secret: SECRET_HASH is added to InitiateAuth and every answer. */
  readonly clientSecret?: string | undefined;
  /** A remembered device: DEVICE_KEY is added to InitiateAuth and every answer. */
  readonly deviceKey?: string | undefined;
}

/** Which refresh API this user pool takes, learnt from its first answer. */
type RefreshApi = 'GetTokensFromRefreshToken' | 'InitiateAuth';

/** The user-pool API calls cognito-broker makes, each translated to our errors. */
export class UserPoolClient implements TokenRefresher {
  /**
   * GetTokensFromRefreshToken until the server shows it does not know it (cognito-local,
   * older emulators): then REFRESH_TOKEN_AUTH for the life of this client, without asking again.
   */
  private refreshApi: RefreshApi | undefined;

  constructor(
    private readonly sdk: CognitoIdentityProviderClient,
    private readonly clientId: string,
    private readonly profile: string,
    /** Our clock: when tokens arrive. */
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * InitiateAuth with a password flow. `parameters`: PASSWORD (USER_PASSWORD_AUTH) or SRP_A
   * (USER_SRP_AUTH); USERNAME, SECRET_HASH and DEVICE_KEY are added here.
   */
  async initiateAuth(flow: PasswordAuthFlow, username: string, parameters: Readonly<Record<string, string>>, context: SignInContext = {}): Promise<SignInStep> {
    const response = await this.call('sign-in', 'InitiateAuth', () => this.sdk.send(new InitiateAuthCommand({
      AuthFlow: flow,
      ClientId: this.clientId,
      AuthParameters: this.withContext({ USERNAME: username, ...parameters }, username, context),
    })));
    return this.step(response, username);
  }

  /** Answers a challenge with its Session unchanged; USERNAME, SECRET_HASH and DEVICE_KEY are added here. */
  async respondToChallenge(challenge: AuthChallenge, answers: Readonly<Record<string, string>>, context: SignInContext = {}): Promise<SignInStep> {
    const response = await this.call('sign-in', 'RespondToAuthChallenge', () => this.sdk.send(new RespondToAuthChallengeCommand({
      ClientId: this.clientId,
      ChallengeName: challenge.name as ChallengeNameType,
      ...(challenge.session ? { Session: challenge.session } : {}),
      ChallengeResponses: this.withContext({ USERNAME: challenge.username, ...answers }, challenge.username, context),
    })));
    return this.step(response, challenge.username);
  }

  /** MFA_SETUP, step 1: a new TOTP secret (base32) for the user, and the session to go on with. */
  async associateSoftwareToken(session: string): Promise<{ secretCode: string; session: string }> {
    const response = await this.call('sign-in', 'AssociateSoftwareToken', () => this.sdk.send(new AssociateSoftwareTokenCommand({ Session: session })));
    const secretCode: unknown = response.SecretCode;
    if (typeof secretCode !== 'string' || secretCode === '') throw new UpstreamMalformedError('The user pool answered AssociateSoftwareToken without a secret code.');
    return { secretCode, session: nonEmpty(response.Session) ?? session };
  }

  /** MFA_SETUP, step 2: proves the authenticator app works; a wrong code is MfaCodeMismatchError. */
  async verifySoftwareToken(session: string, code: string, friendlyDeviceName: string): Promise<{ session: string }> {
    const response = await this.call('sign-in', 'VerifySoftwareToken', () => this.sdk.send(new VerifySoftwareTokenCommand({ Session: session, UserCode: code, FriendlyDeviceName: friendlyDeviceName })));
    if (response.Status !== undefined && response.Status !== 'SUCCESS') {
      throw new UpstreamMalformedError(`The user pool answered VerifySoftwareToken with status ${String(response.Status)}.`);
    }
    return { session: nonEmpty(response.Session) ?? session };
  }

  /**
   * Registers the device's SRP verifier. `userConfirmationNecessary`: the pool remembers
   * devices only when the user opts in (UpdateDeviceStatus), otherwise it already does.
   */
  async confirmDevice(accessToken: string, deviceKey: string, verifier: { passwordVerifier: string; salt: string }, deviceName: string): Promise<{ userConfirmationNecessary: boolean }> {
    const response = await this.call('device', 'ConfirmDevice', () => this.sdk.send(new ConfirmDeviceCommand({
      AccessToken: accessToken,
      DeviceKey: deviceKey,
      DeviceName: deviceName,
      DeviceSecretVerifierConfig: { PasswordVerifier: verifier.passwordVerifier, Salt: verifier.salt },
    })));
    return { userConfirmationNecessary: response.UserConfirmationNecessary === true };
  }

  /** The user's opt-in on pools that remember devices "on user prompt". */
  async rememberDevice(accessToken: string, deviceKey: string): Promise<void> {
    await this.call('device', 'UpdateDeviceStatus', () => this.sdk.send(new UpdateDeviceStatusCommand({
      AccessToken: accessToken,
      DeviceKey: deviceKey,
      DeviceRememberedStatus: 'remembered',
    })));
  }

  /**
   * GetTokensFromRefreshToken, which returns a new refresh token when the app client rotates
   * them; REFRESH_TOKEN_AUTH against servers that do not know it. The secret goes raw to the
   * first and as SECRET_HASH of `cognito:username` to the second.
   */
  async refresh(request: RefreshRequest): Promise<RefreshedTokens> {
    if (this.refreshApi !== 'InitiateAuth') {
      try {
        const response = await this.sdk.send(new GetTokensFromRefreshTokenCommand({
          ClientId: this.clientId,
          RefreshToken: request.refreshToken,
          ...(request.clientSecret ? { ClientSecret: request.clientSecret } : {}),
          ...(request.deviceKey ? { DeviceKey: request.deviceKey } : {}),
        }));
        this.refreshApi = 'GetTokensFromRefreshToken';
        const result = response.AuthenticationResult;
        return { ...tokensFrom(result, this.now()), refreshToken: nonEmpty(result?.RefreshToken) };
      } catch (error) {
        if (this.refreshApi !== undefined || !isUnknownOperation(error)) throw translateAwsError(error, 'refresh', this.profile, 'GetTokensFromRefreshToken');
        this.refreshApi = 'InitiateAuth';
      }
    }
    const parameters: Record<string, string> = { REFRESH_TOKEN: request.refreshToken };
    if (request.clientSecret) parameters.SECRET_HASH = secretHash(this.refreshHashUser(request), this.clientId, request.clientSecret);
    if (request.deviceKey) parameters.DEVICE_KEY = request.deviceKey;
    const response = await this.call('refresh', 'InitiateAuth', () => this.sdk.send(new InitiateAuthCommand({
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      ClientId: this.clientId,
      AuthParameters: parameters,
    })));
    return tokensFrom(response.AuthenticationResult, this.now());
  }

  /**
   * SECRET_HASH on refresh is of the pool's own name for the user (`cognitoUsername`). A
   * session stored without it falls back to the name signed in with, which is the same
   * unless that was an alias (the pool then refuses the hash, and a new login stores the
   * right name). Without either, the hash cannot be made, and a refresh without it would be
   * refused as if the session had expired: the reason is named, and only a login can help.
   */
  private refreshHashUser(request: RefreshRequest): string {
    const user = request.cognitoUsername || request.username;
    if (!user) throw new LoginRequiredError(this.profile, 'the app client has a client secret, and the stored session names no user to compute SECRET_HASH with');
    return user;
  }

  /** RevokeToken: ends this refresh token and the tokens issued from it. */
  async revokeToken(refreshToken: string, clientSecret?: string): Promise<void> {
    await this.call('revoke', 'RevokeToken', () => this.sdk.send(new RevokeTokenCommand({
      ClientId: this.clientId,
      Token: refreshToken,
      ...(clientSecret ? { ClientSecret: clientSecret } : {}),
    })));
  }

  /** GlobalSignOut: ends every refresh token of the user (needs a still-valid access token). */
  async globalSignOut(accessToken: string): Promise<void> {
    await this.call('global-sign-out', 'GlobalSignOut', () => this.sdk.send(new GlobalSignOutCommand({ AccessToken: accessToken })));
  }

  private withContext(parameters: Record<string, string>, username: string, context: SignInContext): Record<string, string> {
    const out = { ...parameters };
    if (context.clientSecret) out.SECRET_HASH = secretHash(username, this.clientId, context.clientSecret);
    if (context.deviceKey && out.DEVICE_KEY === undefined) out.DEVICE_KEY = context.deviceKey;
    return out;
  }

  private async call<T>(operation: CognitoOperation, api: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw translateAwsError(error, operation, this.profile, api);
    }
  }

  private step(
    response: { AuthenticationResult?: AuthenticationResultType; ChallengeName?: string; Session?: string; ChallengeParameters?: Record<string, string> },
    username: string,
  ): SignInStep {
    if (response.AuthenticationResult) {
      const result = response.AuthenticationResult;
      const tokens = tokensFrom(result, this.now());
      const refreshToken = nonEmpty(result.RefreshToken);
      if (refreshToken === undefined) throw new UpstreamMalformedError('The user pool signed you in but returned no refresh token.');
      const deviceKey = nonEmpty(result.NewDeviceMetadata?.DeviceKey);
      const deviceGroupKey = nonEmpty(result.NewDeviceMetadata?.DeviceGroupKey);
      const newDevice = deviceKey && deviceGroupKey ? { deviceKey, deviceGroupKey } : undefined;
      return { kind: 'signed-in', tokens: { ...tokens, refreshToken }, newDevice };
    }
    if (!response.ChallengeName) {
      throw new UpstreamMalformedError('The user pool answered the sign-in with neither tokens nor a challenge.');
    }
    const parameters = response.ChallengeParameters ?? {};
    return {
      kind: 'challenge',
      challenge: {
        name: response.ChallengeName,
        // PASSWORD_VERIFIER may come without one: its SECRET_BLOCK names the exchange.
        session: nonEmpty(response.Session) ?? '',
        // Challenge answers must name the user as the pool knows it, not as typed (an alias).
        username: parameters.USER_ID_FOR_SRP ?? parameters.USERNAME ?? username,
        parameters,
      },
    };
  }
}

/** The SDK types these as strings but passes through whatever JSON type the wire held. */
function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * `issuedAt` is when the tokens reached us, by our clock, as for credentials: the margins
 * then scale with the time actually left by this machine's clock, and a clock that is off
 * cannot make a token look due again the moment it arrives (iat is Cognito's clock).
 */
function tokensFrom(result: AuthenticationResultType | undefined, receivedAt: number): UserPoolTokens {
  const idToken = nonEmpty(result?.IdToken);
  const accessToken = nonEmpty(result?.AccessToken);
  if (idToken === undefined || accessToken === undefined) {
    throw new UpstreamMalformedError('The user pool answered without an ID token or access token.');
  }
  const claims = readIdTokenClaims(idToken);
  return { idToken, accessToken, expiresAt: claims.exp * 1000, issuedAt: Math.min(receivedAt, claims.exp * 1000) };
}
