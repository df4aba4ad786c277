import {
  type BrokerError,
  isBrokerError,
  LoginRequiredError,
  SignInFailedError,
  UpstreamMalformedError,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '../errors.js';

export type CognitoOperation = 'sign-in' | 'refresh' | 'get-id' | 'get-credentials';

const SERVICE: Record<CognitoOperation, string> = {
  'sign-in': 'user pool',
  refresh: 'user pool',
  'get-id': 'identity pool',
  'get-credentials': 'identity pool',
};

const API: Record<CognitoOperation, string> = {
  'sign-in': 'InitiateAuth',
  refresh: 'InitiateAuth',
  'get-id': 'GetId',
  'get-credentials': 'GetCredentialsForIdentity',
};

// The service is down or busy: the broker's backoff retries these (the SDK does not: see
// connectionRetryStrategy in create-cognito-clients.ts).
const THROTTLING = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'ThrottlingException',
  'InternalErrorException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

const BAD_CREDENTIALS = new Set(['NotAuthorizedException', 'UserNotFoundException', 'InvalidPasswordException']);

/** An identity-pool error whose meaning the broker acts on (drop the IdentityId, refresh the ID token). */
export class IdentityPoolError extends UpstreamRejectedError {
  constructor(
    readonly awsName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The one place where AWS SDK errors become ours. Messages keep the AWS error name and
 * Cognito's message (tokens scrubbed), so the user sees what Cognito said.
 */
export function translateAwsError(error: unknown, operation: CognitoOperation, profile: string): BrokerError {
  if (isBrokerError(error)) return error;
  const { name, message, status, network } = describe(error);
  const service = SERVICE[operation];
  const cause = { cause: error };
  if (isUnreadableResponse(error)) {
    // Not Cognito's JSON (an HTML error page, a truncated body, a field of the wrong type).
    // The SDK's message quotes the body, which may hold tokens or keys: it is not repeated.
    const what = `HTTP ${status ?? '?'} with a body the AWS SDK could not read (${name})`;
    if (status !== undefined && status >= 500) {
      return new UpstreamUnavailableError(`The Cognito ${service} did not answer ${API[operation]}: ${what}; retrying with backoff.`, cause);
    }
    return new UpstreamMalformedError(`The Cognito ${service} answered ${API[operation]} with a response that is not valid: ${what}; retrying with backoff.`, cause);
  }
  if (network || THROTTLING.has(name) || (status !== undefined && status >= 500) || name === 'TimeoutError' || name === 'AbortError') {
    return new UpstreamUnavailableError(`The Cognito ${service} did not answer (${name}: ${message}); retrying with backoff.`, cause);
  }
  if (operation === 'refresh' && name === 'NotAuthorizedException') {
    return new LoginRequiredError(profile, `the user pool refused the refresh token: ${message}`, cause);
  }
  if (operation === 'sign-in' && BAD_CREDENTIALS.has(name)) {
    return new SignInFailedError(`Sign-in refused by the user pool: ${message}`, cause);
  }
  if (operation === 'sign-in' && (name === 'UserNotConfirmedException' || name === 'PasswordResetRequiredException')) {
    return new SignInFailedError(`Sign-in refused (${name}): ${message} Finish the account's setup in your app, then sign in again.`, cause);
  }
  if (operation === 'get-id' || operation === 'get-credentials') {
    return new IdentityPoolError(name, `The Cognito identity pool refused the request (${name}: ${message}).`, cause);
  }
  return new UpstreamRejectedError(`The Cognito ${service} refused the request (${name}: ${message}). Check the profile's userPoolId, clientId and region.`, cause);
}

/**
 * A response arrived but could not be deserialized: the SDK attaches the raw response as
 * `$response` to every error past its deserializer, and only Cognito's own (modelled or
 * not) errors carry `$fault`.
 */
function isUnreadableResponse(error: unknown): boolean {
  return typeof error === 'object' && error !== null && '$response' in error && !('$fault' in error);
}

function describe(error: unknown): { name: string; message: string; status?: number; network: boolean } {
  const e = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : (code ?? 'Error');
  const message = scrub(typeof e.message === 'string' ? e.message : String(error));
  return { name, message, status: e.$metadata?.httpStatusCode, network: code !== undefined && NETWORK.has(code) };
}

/** Upstream messages may quote what we sent; nothing that looks like a JWT or long secret goes further. */
export function scrub(text: string): string {
  return text
    .replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '[token]')
    .replace(/[A-Za-z0-9+/=_-]{40,}/g, '[redacted]')
    .slice(0, 300);
}
