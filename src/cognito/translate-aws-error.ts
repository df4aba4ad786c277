import {
  type BrokerError,
  ClientSecretError,
  IdentityPoolError,
  isBrokerError,
  LoginRequiredError,
  MfaCodeMismatchError,
  SignInFailedError,
  SignInRefusedError,
  UnsupportedByServerError,
  UpstreamMalformedError,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '../errors.js';

/**
 * What we were doing, which decides what an error means: `sign-in` is every call of the
 * login conversation (InitiateAuth, RespondToAuthChallenge, Associate/VerifySoftwareToken),
 * `device` remembering the device afterwards (ConfirmDevice, UpdateDeviceStatus).
 */
export type CognitoOperation = 'sign-in' | 'device' | 'refresh' | 'revoke' | 'global-sign-out' | 'get-id' | 'get-credentials';

const SERVICE: Record<CognitoOperation, string> = {
  'sign-in': 'user pool',
  device: 'user pool',
  refresh: 'user pool',
  revoke: 'user pool',
  'global-sign-out': 'user pool',
  'get-id': 'identity pool',
  'get-credentials': 'identity pool',
};

/** The API named in messages when the caller does not name it. */
const API: Record<CognitoOperation, string> = {
  'sign-in': 'InitiateAuth',
  device: 'ConfirmDevice',
  refresh: 'InitiateAuth',
  revoke: 'RevokeToken',
  'global-sign-out': 'GlobalSignOut',
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

/** A wrong or stale one-time code: the challenge session stays usable for another try. */
const WRONG_CODE = new Set(['CodeMismatchException', 'ExpiredCodeException', 'EnableSoftwareTokenMFAException']);

/**
 * How servers say "no such operation": real AWS JSON services answer UnknownOperationException;
 * cognito-local 5.3 answers HTTP 500 `{"__type":"CognitoLocal#Unsupported","message":"Cognito
 * Local unsupported feature: Unsupported x-amz-target header \"GetTokensFromRefreshToken\""}`,
 * which the SDK names `Unsupported`; other emulators answer 501 or NotImplemented.
 */
const UNKNOWN_OPERATION = new Set(['UnknownOperationException', 'Unsupported', 'NotImplemented', 'NotImplementedException', 'InvalidAction']);

/** The server does not implement the operation at all (as opposed to refusing this request). */
export function isUnknownOperation(error: unknown): boolean {
  if (isBrokerError(error)) return false;
  const { name, message, status } = describe(error);
  return UNKNOWN_OPERATION.has(name) || status === 501 || /unsupported x-amz-target|unknown operation/i.test(message);
}

// Real Cognito (NotAuthorizedException): "Client <id> is configured for secret but secret was
// not received" and "Unable to verify secret hash for client <id>".
const SECRET_MISSING = /secret (hash )?was not received|configured (for|with) (a )?secret|SECRET_HASH.*(missing|required|not received)/i;
const SECRET_WRONG = /verify secret hash|secret hash.*(invalid|wrong|mismatch)|invalid client secret/i;

/**
 * The one place where AWS SDK errors become ours. Messages keep the AWS error name and
 * Cognito's message (tokens scrubbed), so the user sees what Cognito said.
 */
export function translateAwsError(error: unknown, operation: CognitoOperation, profile: string, api: string = API[operation]): BrokerError {
  if (isBrokerError(error)) return error;
  const { name, message, status, network } = describe(error);
  const service = SERVICE[operation];
  const cause = { cause: error };
  if (isUnreadableResponse(error)) {
    // Not Cognito's JSON (an HTML error page, a truncated body, a field of the wrong type).
    // The SDK's message quotes the body, which may hold tokens or keys: it is not repeated.
    const what = `HTTP ${status ?? '?'} with a body the AWS SDK could not read (${name})`;
    if (status !== undefined && status >= 500) {
      return new UpstreamUnavailableError(`The Cognito ${service} did not answer ${api}: ${what}; retrying with backoff.`, cause);
    }
    return new UpstreamMalformedError(`The Cognito ${service} answered ${api} with a response that is not valid: ${what}; retrying with backoff.`, cause);
  }
  if (isUnknownOperation(error)) {
    return new UnsupportedByServerError(api, `The Cognito ${service} at this endpoint does not support ${api} (${name}: ${message}).`, cause);
  }
  if (network || THROTTLING.has(name) || (status !== undefined && status >= 500) || name === 'TimeoutError' || name === 'AbortError') {
    return new UpstreamUnavailableError(`The Cognito ${service} did not answer ${api} (${name}: ${message}); retrying with backoff.`, cause);
  }
  if (operation === 'refresh' && name === 'NotAuthorizedException') {
    return new LoginRequiredError(profile, `the user pool refused the refresh token: ${message}`, cause);
  }
  if (operation === 'refresh' && name === 'RefreshTokenReuseException') {
    // Rotation: this token was already exchanged for a newer one and its grace period is over.
    // Retrying cannot help; only a new sign-in can.
    return new LoginRequiredError(profile, `the user pool says the refresh token was already replaced by a newer one (RefreshTokenReuseException: ${message})`, cause);
  }
  if ((operation === 'revoke' || operation === 'global-sign-out') && name === 'NotAuthorizedException') {
    return new LoginRequiredError(profile, `the user pool no longer accepts the token for ${api}: ${message}`, cause);
  }
  if (operation === 'sign-in' && WRONG_CODE.has(name)) {
    return new MfaCodeMismatchError(`The user pool refused the code (${name}: ${message}).`, cause);
  }
  if (operation === 'sign-in' && name === 'NotAuthorizedException' && (SECRET_MISSING.test(message) || SECRET_WRONG.test(message))) {
    return new ClientSecretError(!SECRET_WRONG.test(message), `${name}: ${message}`, cause);
  }
  if (operation === 'sign-in' && name === 'InvalidParameterException' && /flow not (enabled|allowed|supported)/i.test(message)) {
    return new UpstreamRejectedError(`The app client does not allow this sign-in flow (${name}: ${message}). Allow it on the app client, or choose the other one with --auth-flow srp | user-password.`, cause);
  }
  if (operation === 'sign-in' && BAD_CREDENTIALS.has(name)) {
    return new SignInRefusedError(name, `Sign-in refused by the user pool: ${message}`, cause);
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
