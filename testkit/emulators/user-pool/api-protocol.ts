/**
 * The user pool's API on the wire: `POST /` with
 * `X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>`, a JSON object in, a JSON
 * object out, errors as `{"__type": "NotAuthorizedException", "message": "..."}`; and the
 * readers of an operation's input, which answer a missing or mistyped member as Cognito does.
 */
import { AwsJsonFault, isPlainObject, type AwsJsonService } from '../aws-json-protocol.js';
import { API_OPERATIONS, type ApiOperation } from './types.js';

export type Input = Record<string, unknown>;
export type Parameters = Record<string, string>;

const MAX_BODY_BYTES = 64 * 1024;
const TARGET_PREFIX = 'AWSCognitoIdentityProviderService.';
/** What a wrong password or proof is answered with (and an unknown user's, alike). */
export const INCORRECT_CREDENTIALS = 'Incorrect username or password.';

/** An error answered on the wire as `{"__type": type, "message": message}`. */
export class UserPoolFault extends AwsJsonFault {
  override readonly name = 'UserPoolFault';
}

/**
 * The API as an AWS JSON service: `received` counts each call (and throws an injected
 * fault), `operations` runs it.
 */
export function userPoolApi(
  operations: Readonly<Record<ApiOperation, (input: Input) => unknown>>,
  received: (operation: ApiOperation) => void,
): AwsJsonService<ApiOperation> {
  return {
    targetPrefix: TARGET_PREFIX,
    operations: API_OPERATIONS,
    maxBodyBytes: MAX_BODY_BYTES,
    fault: (type, message, status) => new UserPoolFault(type, message, status),
    received,
    run: (operation, input) => operations[operation](input),
  };
}

export function requireString(input: Input, name: string): string {
  const value = input[name];
  if (value === undefined || value === null) {
    throw new UserPoolFault(
      'InvalidParameterException',
      `1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  if (typeof value !== 'string') throw new UserPoolFault('SerializationException', `${name} must be a string.`);
  return value;
}

export function optionalString(input: Input, name: string): string | undefined {
  const value = input[name];
  return value === undefined || value === null ? undefined : requireString(input, name);
}

export function stringMap(input: Input, name: string): Parameters {
  const value = input[name];
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new UserPoolFault('SerializationException', `${name} must map strings to strings.`);
  }
  return value as Parameters;
}

export function missingParameter(name: string): UserPoolFault {
  return new UserPoolFault('InvalidParameterException', `Missing required parameter ${name}`);
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
