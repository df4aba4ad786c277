import type { AwsCredentials } from '../cognito/types.js';

/**
 * The container-credentials body every AWS SDK reads (AWS_CONTAINER_CREDENTIALS_FULL_URI):
 * the daemon serves it, and the CLI's commands hand it on (credential-process, exec).
 */
export interface CredentialsBody {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly Token: string;
  /** RFC 3339 ending in Z: the JS SDK accepts nothing else, and toISOString gives it. */
  readonly Expiration: string;
  readonly AccountId?: string;
}

export function containerCredentials(c: AwsCredentials, accountId: string | undefined): CredentialsBody {
  return {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    Expiration: new Date(c.expiresAt).toISOString(),
    ...(accountId ? { AccountId: accountId } : {}),
  };
}

// Serialized once per credential set, not once per request: the endpoint's hot path.
const serialized = new WeakMap<AwsCredentials, string>();

/** containerCredentials as JSON text, cached per credential set. */
export function credentialsJson(c: AwsCredentials, accountId: string | undefined): string {
  let body = serialized.get(c);
  if (body === undefined) {
    body = JSON.stringify(containerCredentials(c, accountId));
    serialized.set(c, body);
  }
  return body;
}

export function isCredentialsBody(body: unknown): body is CredentialsBody {
  const b = body as Partial<Record<keyof CredentialsBody, unknown>> | null;
  return typeof b === 'object' && b !== null && typeof b.AccessKeyId === 'string' && typeof b.SecretAccessKey === 'string' &&
    typeof b.Token === 'string' && typeof b.Expiration === 'string';
}
