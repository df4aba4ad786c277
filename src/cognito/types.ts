import type { SignInMethod } from '../config/config.js';

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

/** What a refresh needs, all of it from the keychain's session record. */
export interface RefreshRequest {
  /** Absent means 'password' (sessions stored before browser sign-in existed). */
  readonly method?: SignInMethod | undefined;
  readonly refreshToken: string;
  /** The name the user signed in with: SECRET_HASH's user when the pool's own name was not stored. */
  readonly username?: string | undefined;
  /** The pool's own name for the user: SECRET_HASH on refresh is computed with it, not an alias. */
  readonly cognitoUsername?: string | undefined;
  /** App clients with a secret; kept in the keychain, never in the config. */
  readonly clientSecret?: string | undefined;
  /** A remembered device: sent on refresh so the pool ties the session to it. */
  readonly deviceKey?: string | undefined;
}

/** Fresh tokens; `refreshToken` only when the app client rotates refresh tokens. */
export interface RefreshedTokens extends UserPoolTokens {
  /**
   * The replacement refresh token. The old one stays valid only for the client's grace
   * period, so the new one must reach the keychain before anything else uses the session.
   */
  readonly refreshToken?: string | undefined;
}

/** The sign-in side the broker needs: turn a stored session into fresh tokens. */
export interface TokenRefresher {
  refresh(request: RefreshRequest): Promise<RefreshedTokens>;
}

/** The identity-pool side the broker needs. */
export interface CredentialExchanger {
  getId(idToken: string): Promise<string>;
  getCredentials(identityId: string, idToken: string, customRoleArn?: string): Promise<AwsCredentials>;
}
