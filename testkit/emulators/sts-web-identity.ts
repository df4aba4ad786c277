/**
 * sts:AssumeRoleWithWebIdentity for the STS stub (sts-stub.ts): unsigned, as real STS takes
 * it; the web identity token must verify (the identity-pool emulator's own OpenID tokens,
 * through `verify`). The credentials it issues are kept, so that the stub accepts calls
 * signed with them (GetCallerIdentity), as it does the identity pool's.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface WebIdentityVerifier {
  /** The token's subject and audience, or a rejection (expired, bad signature, wrong issuer). */
  verify(token: string): Promise<{ sub: string; aud: string }>;
}

export interface WebIdentityCredentials {
  accessKeyId: string;
  secretKey: string;
  sessionToken: string;
  expiration: Date;
  roleArn: string;
  roleSessionName: string;
  /** The token's `sub`: the IdentityId, for an identity pool's token. */
  subject: string;
}

export class WebIdentityFault extends Error {
  constructor(readonly code: 'InvalidIdentityToken' | 'ExpiredTokenException' | 'ValidationError', message: string, readonly status = 400) {
    super(message);
  }
}

const ROLE_ARN = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:[^/]+\/)*([\w+=,.@-]+)$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const XML_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Checks the request's parameters and token, and issues credentials for the role. */
export async function assumeRoleWithWebIdentity(params: URLSearchParams, verifier: WebIdentityVerifier, now: number): Promise<WebIdentityCredentials> {
  const roleArn = params.get('RoleArn') ?? '';
  const roleSessionName = params.get('RoleSessionName') ?? '';
  const token = params.get('WebIdentityToken') ?? '';
  const duration = Number(params.get('DurationSeconds') ?? 3600);
  if (!ROLE_ARN.test(roleArn)) throw new WebIdentityFault('ValidationError', 'RoleArn is not a valid role ARN.');
  if (!SESSION_NAME.test(roleSessionName)) throw new WebIdentityFault('ValidationError', 'RoleSessionName must be 2-64 characters of [\\w+=,.@-].');
  if (!Number.isInteger(duration) || duration < 900 || duration > 43_200) throw new WebIdentityFault('ValidationError', 'DurationSeconds must be 900-43200.');
  let subject: string;
  try {
    ({ sub: subject } = await verifier.verify(token));
  } catch (error) {
    const message = error instanceof Error ? error.message : 'Invalid token.';
    throw /expired/i.test(message) ? new WebIdentityFault('ExpiredTokenException', 'Token expired.') : new WebIdentityFault('InvalidIdentityToken', `The web identity token could not be verified: ${message}`);
  }
  return {
    accessKeyId: `ASIA${[...randomBytes(16)].map((b) => ACCESS_KEY_ALPHABET[b % 32]).join('')}`,
    secretKey: randomBytes(30).toString('base64'),
    sessionToken: randomBytes(600).toString('base64'),
    expiration: new Date(Math.floor(now / 1000) * 1000 + duration * 1000),
    roleArn,
    roleSessionName,
    subject,
  };
}

/** The XML answer real STS gives (awsQuery). */
export function webIdentityResponse(c: WebIdentityCredentials, requestId: string): string {
  const [, partition = 'aws', account = '', roleName = ''] = ROLE_ARN.exec(c.roleArn) ?? [];
  const roleId = `AROA${createHash('sha256').update(c.roleArn).digest('hex').toUpperCase().slice(0, 17)}`;
  return `<AssumeRoleWithWebIdentityResponse xmlns="${XML_NAMESPACE}">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>${c.subject}</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>arn:${partition}:sts::${account}:assumed-role/${roleName}/${c.roleSessionName}</Arn>
      <AssumedRoleId>${roleId}:${c.roleSessionName}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${c.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${c.secretKey}</SecretAccessKey>
      <SessionToken>${c.sessionToken}</SessionToken>
      <Expiration>${c.expiration.toISOString()}</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`;
}
