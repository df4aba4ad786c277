import type { DestinationStream, Logger, LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';
import { requireBundle } from '../require-bundle.js';
import { requireCommonJs } from '../require-commonjs.js';
import type * as PinoSubset from './pino-subset.cjs';

const { pino } = requireBundle<typeof PinoSubset>(import.meta.url, './pino-subset.cjs');

// pino-pretty (and its colorette, dateformat, ...) costs ~55 ms of start-up and is used only
// when stderr is a terminal; `serve` under a supervisor or a bench never needs it. It is
// required on use, which keeps createLogger synchronous.

/**
 * Field names that would hold a secret if one were ever passed to the logger: tokens and
 * keys, the app client's secret, a remembered device's password and group key, and the PKCE
 * verifier (without it an intercepted authorization code is useless). Not `code`: that is
 * every log line's error code, and no OAuth code is ever passed to the logger.
 * The code never logs them; this is the second line of defence, and a test holds both lines.
 */
export const REDACTED_FIELDS = [
  'refreshToken', 'idToken', 'accessToken', 'password', 'secretAccessKey', 'sessionToken', 'authToken', 'token',
  'clientSecret', 'devicePassword', 'deviceGroupKey', 'codeVerifier', 'code_verifier',
] as const;

export const REDACTED_PATHS = [
  ...REDACTED_FIELDS,
  ...REDACTED_FIELDS.map((field) => `*.${field}`),
  'req.headers.authorization', 'headers.authorization',
];

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Human-readable lines (a TTY) instead of JSON. */
  readonly pretty?: boolean;
  /** Where lines go; stderr by default, so stdout stays for what a shell evaluates. */
  readonly destination?: DestinationStream;
}

/** Fields of an Error that are safe and useful in a log line; everything else is dropped. */
const ERROR_FIELDS = ['name', 'message', 'code', 'statusCode', 'retryable', 'stack'] as const;
const ERROR_CAUSE_DEPTH = 3;

/**
 * Errors are logged field by field from a short list, not with every enumerable property
 * (pino's default): Node's HTTP parser errors carry `rawPacket`, the request's raw bytes
 * with its Authorization header; AWS SDK errors carry `$response` and request details.
 */
export function serializeError(error: unknown, depth = 0): Record<string, unknown> {
  if (error === null || typeof error !== 'object') return { type: typeof error, message: String(error) };
  const fields = error as Record<string, unknown>;
  // The error's own name before its class's: the build's SDK bundle renames some classes
  // (`_NotAuthorizedException`), and keeping every name there would cost each start ~5 ms.
  const type = error instanceof Error ? (typeof fields.name === 'string' && fields.name !== '' ? fields.name : error.constructor.name) : 'object';
  const out: Record<string, unknown> = { type };
  for (const field of ERROR_FIELDS) {
    const value = fields[field];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[field] = value;
  }
  if (fields.cause !== undefined && depth < ERROR_CAUSE_DEPTH) out.cause = serializeError(fields.cause, depth + 1);
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    base: { pid: process.pid },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) {
    const pretty = requireCommonJs<typeof PinoPretty>('pino-pretty');
    return pino(base, pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' }));
  }
  return pino(base, pino.destination({ fd: 2, sync: false }));
}
