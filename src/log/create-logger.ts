import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

/**
 * Field names that would hold a secret if one were ever passed to the logger. The code
 * never logs them; this is the second line of defence, and a test holds both lines.
 */
export const REDACTED_PATHS = [
  'refreshToken', 'idToken', 'accessToken', 'password', 'secretAccessKey', 'sessionToken', 'authToken', 'token',
  '*.refreshToken', '*.idToken', '*.accessToken', '*.password', '*.secretAccessKey', '*.sessionToken', '*.authToken', '*.token',
  'req.headers.authorization', 'headers.authorization',
];

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Human-readable lines (a TTY) instead of JSON. */
  readonly pretty?: boolean;
  /** Where lines go; stderr by default, so stdout stays for what a shell evaluates. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = { level: options.level ?? 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) return pino(base, pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' }));
  return pino(base, pino.destination({ fd: 2, sync: false }));
}
