import type { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import { UpstreamMalformedError } from '../errors.js';
import { awsSdk } from './aws-sdk.js';
import { loginsKey, readIdTokenClaims } from './jwt-claims.js';
import { translateAwsError } from './translate-aws-error.js';
import type { AwsCredentials, CredentialExchanger } from './types.js';

const { GetCredentialsForIdentityCommand, GetIdCommand, GetOpenIdTokenCommand } = awsSdk();

export interface IdentityPoolClientOptions {
  readonly identityPoolId: string;
  readonly profile: string;
  readonly now?: () => number;
  /**
   * The Logins key when it is not the token's `iss` without the scheme: another OpenID
   * Connect provider goes under its IAM provider name (oidcLoginsKey in oidc-discovery.ts).
   */
  readonly loginsKey?: string | undefined;
}

/** GetId and GetCredentialsForIdentity, with Cognito's `SecretKey` renamed for the SDKs. */
export class IdentityPoolClient implements CredentialExchanger {
  private readonly now: () => number;

  constructor(
    private readonly sdk: CognitoIdentityClient,
    private readonly options: IdentityPoolClientOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  private logins(idToken: string): Record<string, string> {
    return { [this.options.loginsKey ?? loginsKey(readIdTokenClaims(idToken))]: idToken };
  }

  async getId(idToken: string): Promise<string> {
    try {
      const response = await this.sdk.send(new GetIdCommand({ IdentityPoolId: this.options.identityPoolId, Logins: this.logins(idToken) }));
      if (!isText(response.IdentityId)) throw new UpstreamMalformedError('The identity pool answered GetId without an IdentityId.');
      return response.IdentityId;
    } catch (error) {
      throw translateAwsError(error, 'get-id', this.options.profile);
    }
  }

  /** The basic flow's first step: the identity pool's own OpenID token for this identity. */
  async getOpenIdToken(identityId: string, idToken: string): Promise<string> {
    try {
      const response = await this.sdk.send(new GetOpenIdTokenCommand({ IdentityId: identityId, Logins: this.logins(idToken) }));
      if (!isText(response.Token)) throw new UpstreamMalformedError('The identity pool answered GetOpenIdToken without a Token.');
      return response.Token;
    } catch (error) {
      throw translateAwsError(error, 'get-open-id-token', this.options.profile);
    }
  }

  async getCredentials(identityId: string, idToken: string, customRoleArn?: string): Promise<AwsCredentials> {
    let response;
    try {
      response = await this.sdk.send(new GetCredentialsForIdentityCommand({
        IdentityId: identityId,
        Logins: this.logins(idToken),
        ...(customRoleArn ? { CustomRoleArn: customRoleArn } : {}),
      }));
    } catch (error) {
      throw translateAwsError(error, 'get-credentials', this.options.profile);
    }
    const c = response.Credentials;
    const expiresAt = c?.Expiration instanceof Date ? c.Expiration.getTime() : Number.NaN;
    // The SDK passes a JSON number through where a string belongs: check every type we serve.
    if (!isText(c?.AccessKeyId) || !isText(c.SecretKey) || !isText(c.SessionToken) || !Number.isFinite(expiresAt)) {
      throw new UpstreamMalformedError('The identity pool answered GetCredentialsForIdentity without complete credentials.');
    }
    if (response.IdentityId !== undefined && !isText(response.IdentityId)) {
      throw new UpstreamMalformedError('The identity pool answered GetCredentialsForIdentity with an IdentityId that is not a string.');
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretKey,
      sessionToken: c.SessionToken,
      expiresAt,
      issuedAt: this.now(),
      identityId: response.IdentityId ?? identityId,
    };
  }
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

