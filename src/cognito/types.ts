/** What the user pool gives back when a refresh succeeds. Times are epoch milliseconds. */
export interface UserPoolTokens {
  readonly idToken: string;
  readonly accessToken: string;
  /** From the ID token's `exp`: cognito-local sends no ExpiresIn, and `exp` is what clients check. */
  readonly expiresAt: number;
  /**
   * Epoch milliseconds, by our clock, when the user pool answered (at most `expiresAt`); with
   * `expiresAt` it gives the lifetime as this machine's clock sees it.
   */
  readonly issuedAt: number;
}

/** A completed sign-in: tokens plus the refresh token that goes to the keychain. */
export interface SignInTokens extends UserPoolTokens {
  readonly refreshToken: string;
}

/** Temporary AWS credentials from the identity pool, already renamed for the SDKs. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  /** Epoch milliseconds, by our clock, when the identity pool answered. */
  readonly issuedAt: number;
  readonly identityId: string;
}

/** The user-pool side the broker needs: turn a refresh token into fresh tokens. */
export interface TokenRefresher {
  refresh(refreshToken: string): Promise<UserPoolTokens>;
}

/** The identity-pool side the broker needs. */
export interface CredentialExchanger {
  getId(idToken: string): Promise<string>;
  getCredentials(identityId: string, idToken: string, customRoleArn?: string): Promise<AwsCredentials>;
}
