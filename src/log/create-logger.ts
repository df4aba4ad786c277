import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';

// pino-pretty (and its colorette, dateformat, ...) costs ~55 ms of start-up and is used only
// when stderr is a terminal; `serve` under a supervisor or a bench never needs it. It is
// CommonJS, so a require() on use keeps createLogger synchronous.
const requireOnUse = createRequire(import.meta.url);

/**
 * Field names that would hold a secret if one were ever passed to the logger: tokens and
 * keys, the app client's secret, a remembered device's password and group key, and the
 * OAuth authorization code with its PKCE verifier (a code and its verifier are a session).
 * The code never logs them; this is the second line of defence, and a test holds both lines.
 */
export const REDACTED_FIELDS = [
  'refreshToken', 'idToken', 'accessToken', 'password', 'secretAccessKey', 'sessionToken', 'authToken', 'token',
  'clientSecret', 'devicePassword', 'deviceGroupKey', 'codeVerifier', 'code_verifier', 'code',
] as const;

export const REDACTED_PATHS = [
  ...REDACTED_FIELDS,
  ...REDACTED_FIELDS.map((field) => `*.${field}`),
  'req.headers.authorization', 'headers.authorization',
];

const CENSOR = '[redacted]';

/**
 * `code` is also every log line's error code (BRK_ERR_..., a Node errno or parser code, an
 * AWS error name): those are kept, so the log still says what failed. Any other value under
 * `code` may be an OAuth authorization code, and is censored.
 */
const ERROR_CODE = /^(BRK_ERR_[A-Z_]+|E[A-Z]+|ERR_[A-Z0-9_]+|HPE_[A-Z_]+|FST_[A-Z0-9_]+|UND_ERR_[A-Z_]+|[A-Z][A-Za-z]+(Exception|Error))$/;

function censor(value: unknown, path: string[]): unknown {
  if (path.at(-1) === 'code' && (typeof value === 'number' || (typeof value === 'string' && ERROR_CODE.test(value)))) return value;
  return CENSOR;
}

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
  const out: Record<string, unknown> = { type: error instanceof Error ? error.constructor.name : 'object' };
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
    redact: { paths: REDACTED_PATHS, censor },
    serializers: { err: serializeError },
    base: { pid: process.pid },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) {
    const pretty = requireOnUse('pino-pretty') as typeof PinoPretty;
    return pino(base, pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' }));
  }
  return pino(base, pino.destination({ fd: 2, sync: false }));
}
