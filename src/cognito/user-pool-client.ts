import {
  type AuthenticationResultType,
  type ChallengeNameType,
  type CognitoIdentityProviderClient,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { UpstreamMalformedError } from '../errors.js';
import { readIdTokenClaims } from './jwt-claims.js';
import { translateAwsError } from './translate-aws-error.js';
import type { SignInTokens, TokenRefresher, UserPoolTokens } from './types.js';

/** A challenge the user pool asked us to answer before it hands out tokens. */
export interface AuthChallenge {
  readonly name: ChallengeNameType | string;
  readonly session: string;
  readonly username: string;
  readonly parameters: Readonly<Record<string, string>>;
}

export type SignInStep =
  | { readonly kind: 'signed-in'; readonly tokens: SignInTokens }
  | { readonly kind: 'challenge'; readonly challenge: AuthChallenge };

/** The user-pool API calls cognito-broker makes, each translated to our errors. */
export class UserPoolClient implements TokenRefresher {
  constructor(
    private readonly sdk: CognitoIdentityProviderClient,
    private readonly clientId: string,
    private readonly profile: string,
    /** Our clock: when tokens arrive. */
    private readonly now: () => number = Date.now,
  ) {}

  async initiatePasswordAuth(username: string, password: string): Promise<SignInStep> {
    const response = await this.call('sign-in', () => this.sdk.send(new InitiateAuthCommand({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: this.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    })));
    return this.step(response, username);
  }

  async respondToChallenge(challenge: AuthChallenge, answers: Record<string, string>): Promise<SignInStep> {
    const response = await this.call('sign-in', () => this.sdk.send(new RespondToAuthChallengeCommand({
      ClientId: this.clientId,
      ChallengeName: challenge.name as ChallengeNameType,
      Session: challenge.session,
      ChallengeResponses: { USERNAME: challenge.username, ...answers },
    })));
    return this.step(response, challenge.username);
  }

  async refresh(refreshToken: string): Promise<UserPoolTokens> {
    const response = await this.call('refresh', () => this.sdk.send(new InitiateAuthCommand({
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      ClientId: this.clientId,
      AuthParameters: { REFRESH_TOKEN: refreshToken },
    })));
    return tokensFrom(response.AuthenticationResult, this.now());
  }

  private async call<T>(operation: 'sign-in' | 'refresh', request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw translateAwsError(error, operation, this.profile);
    }
  }

  private step(
    response: { AuthenticationResult?: AuthenticationResultType; ChallengeName?: string; Session?: string; ChallengeParameters?: Record<string, string> },
    username: string,
  ): SignInStep {
    if (response.AuthenticationResult) {
      const tokens = tokensFrom(response.AuthenticationResult, this.now());
      const refreshToken: unknown = response.AuthenticationResult.RefreshToken;
      if (typeof refreshToken !== 'string' || refreshToken === '') throw new UpstreamMalformedError('The user pool signed you in but returned no refresh token.');
      return { kind: 'signed-in', tokens: { ...tokens, refreshToken } };
    }
    if (!response.ChallengeName || !response.Session) {
      throw new UpstreamMalformedError('The user pool answered the sign-in with neither tokens nor a challenge.');
    }
    const parameters = response.ChallengeParameters ?? {};
    return {
      kind: 'challenge',
      challenge: {
        name: response.ChallengeName,
        session: response.Session,
        // Challenge answers must name the user as the pool knows it, not as typed (an alias).
        username: parameters.USER_ID_FOR_SRP ?? username,
        parameters,
      },
    };
  }
}

/**
 * `issuedAt` is when the tokens reached us, by our clock, as for credentials: the margins
 * then scale with the time actually left by this machine's clock, and a clock that is off
 * cannot make a token look due again the moment it arrives (iat is Cognito's clock).
 */
function tokensFrom(result: AuthenticationResultType | undefined, receivedAt: number): UserPoolTokens {
  // Typed as strings, but the SDK passes through whatever JSON type the wire held.
  const idToken: unknown = result?.IdToken;
  const accessToken: unknown = result?.AccessToken;
  if (typeof idToken !== 'string' || typeof accessToken !== 'string' || idToken === '' || accessToken === '') {
    throw new UpstreamMalformedError('The user pool answered without an ID token or access token.');
  }
  const claims = readIdTokenClaims(idToken);
  return { idToken, accessToken, expiresAt: claims.exp * 1000, issuedAt: Math.min(receivedAt, claims.exp * 1000) };
}
