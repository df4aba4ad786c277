import type { STSClient } from '@aws-sdk/client-sts';
import { UpstreamMalformedError } from '../errors.js';
import { awsSdk } from './aws-sdk.js';
import { translateAwsError } from './translate-aws-error.js';
import type { AwsCredentials, CredentialExchanger } from './types.js';

/** The identity pool's GetOpenIdToken (IdentityPoolClient has it). */
export interface OpenIdTokenSource {
  getOpenIdToken(identityId: string, loginToken: string): Promise<string>;
}

export interface BasicFlowOptions {
  readonly profile: string;
  /** The role to assume: the profile's customRoleArn (the config requires it with "flow": "basic"). */
  readonly roleArn: string;
  /** Default: "cognito-broker-PROFILE", cut to IAM's 64 characters. */
  readonly roleSessionName?: string | undefined;
  /** Default: STS's (one hour); up to the role's maximum. */
  readonly durationSeconds?: number | undefined;
  readonly now?: () => number;
}

/**
 * The basic (classic) flow: GetOpenIdToken for the identity, then sts:AssumeRoleWithWebIdentity
 * with that token and the profile's role. For identity pools with the enhanced flow turned
 * off, or when the role session's name or duration matter (the enhanced flow's are fixed).
 * Both calls are unsigned. GetId is the wrapped exchanger's.
 */
export class BasicFlowExchanger implements CredentialExchanger {
  private readonly now: () => number;

  constructor(
    private readonly ids: Pick<CredentialExchanger, 'getId'>,
    private readonly pool: OpenIdTokenSource,
    private readonly sts: Pick<STSClient, 'send'>,
    private readonly options: BasicFlowOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  getId(idToken: string): Promise<string> {
    return this.ids.getId(idToken);
  }

  async getCredentials(identityId: string, idToken: string): Promise<AwsCredentials> {
    const token = await this.pool.getOpenIdToken(identityId, idToken);
    const { profile, roleArn, durationSeconds } = this.options;
    let response;
    try {
      response = await this.sts.send(new (awsSdk().AssumeRoleWithWebIdentityCommand)({
        RoleArn: roleArn,
        RoleSessionName: this.options.roleSessionName ?? `cognito-broker-${profile}`.slice(0, 64),
        WebIdentityToken: token,
        ...(durationSeconds !== undefined ? { DurationSeconds: durationSeconds } : {}),
      }));
    } catch (error) {
      throw translateAwsError(error, 'assume-role', profile);
    }
    const c = response.Credentials;
    const expiresAt = c?.Expiration instanceof Date ? c.Expiration.getTime() : Number.NaN;
    if (!isText(c?.AccessKeyId) || !isText(c.SecretAccessKey) || !isText(c.SessionToken) || !Number.isFinite(expiresAt)) {
      throw new UpstreamMalformedError('STS answered AssumeRoleWithWebIdentity without complete credentials.');
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiresAt, issuedAt: this.now(), identityId };
  }
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
