import { createRequire } from 'node:module';
import type * as QRCodeModule from 'qrcode';
import type { AskUser, MfaMethod, SignInQuestion } from '../cognito/sign-in.js';
import { MfaCodeMismatchError, NoTerminalError } from '../errors.js';
import { requireCommonJs } from '../require-commonjs.js';
import type { CliIo } from './cli-io.js';
import type * as ImportPackage from './import-package.cjs';

const { importPackage } = createRequire(import.meta.url)('./import-package.cjs') as typeof ImportPackage;

/** Never waits on a closed or piped stdin: without a terminal there is nobody to answer. */
function requireTerminal(what: string, alternative?: string): void {
  if (!process.stdin.isTTY) throw new NoTerminalError(what, alternative);
}

const output = { output: process.stderr };

// The prompt and QR-code libraries are loaded when a prompt is shown: most logins (a password
// on stdin, a stored device) never show one, and they were about 90 of the 310 modules
// `login --password-stdin` loaded.
async function input(...args: Parameters<typeof import('@inquirer/input').default>): Promise<string> {
  const { default: ask } = await importPackage<typeof import('@inquirer/input')>('@inquirer/input');
  return ask(...args);
}

async function password(...args: Parameters<typeof import('@inquirer/password').default>): Promise<string> {
  const { default: ask } = await importPackage<typeof import('@inquirer/password')>('@inquirer/password');
  return ask(...args);
}

export async function askUsername(): Promise<string> {
  requireTerminal('the username', 'pass --username U');
  return input({ message: 'Username:', required: true }, output);
}

/**
 * One line of text at the terminal, checked as it is typed (`check` returns what is wrong, or
 * undefined). Empty is allowed when `optional`; `initial` is what Enter takes.
 */
export async function askText(message: string, options: { readonly check?: (value: string) => string | undefined; readonly optional?: boolean; readonly initial?: string | undefined } = {}): Promise<string> {
  requireTerminal(message.replace(/:$/, '').toLowerCase());
  const answer = await input(
    {
      message,
      required: options.optional !== true,
      ...(options.initial !== undefined ? { default: options.initial } : {}),
      validate: (value: string) => {
        const trimmed = value.trim();
        if (trimmed === '') return options.optional === true || 'A value is needed.';
        return options.check?.(trimmed) ?? true;
      },
    },
    output,
  );
  return answer.trim();
}

export async function askPassword(message = 'Password:'): Promise<string> {
  requireTerminal('the password');
  return password({ message, mask: '*' }, output);
}

/** The app client's secret, masked; it goes to the keychain, never to a file or argv. */
export async function askClientSecret(): Promise<string> {
  requireTerminal('the app client secret', 'set COGNITO_BROKER_CLIENT_SECRET for this one login');
  const secret = await password({ message: 'Client secret of the app client:', mask: '*', validate: (v) => v.trim() !== '' || 'The client secret is required.' }, output);
  return secret.trim();
}

export function isInteractive(): boolean {
  return process.stdin.isTTY === true;
}

/**
 * Standard input read a line at a time: with `--mfa-code -` it carries the password on its
 * first line and, once the pool has sent it, the code on the next. Nothing is read before
 * it is asked for, so a script can wait for the prompt (on stderr) before writing the code.
 */
export class StdinLines {
  private buffer = '';
  private ended = false;
  private chunks: AsyncIterator<Buffer | string> | undefined;

  constructor(private readonly stream: NodeJS.ReadableStream = process.stdin) {}

  /** The next line without its line ending; undefined at the end of input. */
  async next(): Promise<string | undefined> {
    // Created at the first read: until then the stream is left alone (not switched to flowing).
    this.chunks ??= this.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    while (!this.buffer.includes('\n') && !this.ended) {
      const chunk = await this.chunks.next();
      if (chunk.done) this.ended = true;
      else this.buffer += chunk.value.toString();
    }
    if (this.buffer === '' && this.ended) return undefined;
    const end = this.buffer.indexOf('\n');
    const line = end === -1 ? this.buffer : this.buffer.slice(0, end);
    this.buffer = end === -1 ? '' : this.buffer.slice(end + 1);
    return line.replace(/\r$/, '');
  }
}

/**
 * Asks for the address a browser ended on (`login --browser --remote`): at a terminal with a
 * prompt, which reads the line in raw mode (a long address is not cut at the terminal's line
 * limit); without one, a line at a time from standard input, so that a script, or `ssh host
 * cognito-broker login ...` without a terminal, can paste it there.
 */
export class RedirectPrompt {
  #lines: StdinLines | undefined;

  readonly ask = async (signal: AbortSignal): Promise<string | undefined> => {
    if (isInteractive()) return input({ message: 'Address the browser ended on:', required: true }, { ...output, signal });
    this.#lines ??= new StdinLines();
    // Giving up ends the read, or the pending read would keep the process alive.
    const stop = () => process.stdin.destroy();
    signal.addEventListener('abort', stop, { once: true });
    try {
      return await this.#lines.next();
    } finally {
      signal.removeEventListener('abort', stop);
    }
  };

  /** Lets go of standard input once the login has what it needs. */
  close(): void {
    if (this.#lines) process.stdin.destroy();
  }
}

/** How `login` answers the pool's challenges when no one may be at the keyboard. */
export interface ChallengeAnswerOptions {
  /** --mfa-code: the code itself, or '-' to read it from the next line of stdin when asked. */
  readonly mfaCode?: string | undefined;
  /** --mfa-method, for SELECT_MFA_TYPE without a terminal. */
  readonly mfaMethod?: MfaMethod | undefined;
  readonly stdin?: StdinLines | undefined;
  readonly io: CliIo;
}

/**
 * Answers the user pool's challenges: at the terminal (masked where it is a secret), or
 * from --mfa-code / --mfa-method. A code given on the command line is used once: when the
 * pool refuses it, login fails with BRK_ERR_MFA_CODE_MISMATCH instead of asking.
 */
export function challengeAsker(options: ChallengeAnswerOptions): AskUser {
  return async (question: SignInQuestion): Promise<string> => {
    switch (question.kind) {
      case 'new-password':
        return askNewPassword(question.refused, options.io);
      case 'attribute':
        requireTerminal(`the attribute "${question.name}" the user pool requires`);
        return input({ message: `The user pool requires the attribute "${question.name}". Value:`, required: true }, output);
      case 'mfa-method':
        return chooseMfaMethod(question.options, options);
      case 'totp-setup':
        if (!question.refused) await showTotpSetup(question.uri, question.secretCode, options.io);
        return askCode('the code your authenticator app now shows', question.refused, options);
      case 'mfa-code':
        return askCode(codeSource(question.method, question.destination), question.refused, options);
    }
  };
}

async function askNewPassword(refused: string | undefined, io: CliIo): Promise<string> {
  requireTerminal('a new password');
  if (refused) io.stderr(`The new password was refused: ${refused}\n`);
  const first = await password({ message: 'The user pool requires a new password. New password:', mask: '*' }, output);
  return password({ message: 'New password again:', mask: '*', validate: (v) => v === first || 'The two passwords differ.' }, output);
}

function codeSource(method: MfaMethod, destination: string | undefined): string {
  const to = destination ? ` to ${destination}` : '';
  if (method === 'SMS') return `the code sent by SMS${to}`;
  if (method === 'EMAIL') return `the code sent by email${to}`;
  return 'the code from your authenticator app';
}

async function askCode(what: string, refused: string | undefined, options: ChallengeAnswerOptions): Promise<string> {
  if (options.mfaCode !== undefined) {
    if (refused) {
      throw new MfaCodeMismatchError(`The MFA code given with --mfa-code was refused: ${refused} Codes are short-lived and single-use: run login again with a fresh one.`);
    }
    if (options.mfaCode !== '-') return options.mfaCode.trim();
    options.io.stderr(`Enter ${what} (reading a line from standard input):\n`);
    const line = await options.stdin?.next();
    if (line === undefined || line.trim() === '') throw new MfaCodeMismatchError(`No MFA code on standard input (--mfa-code -): ${what} was expected.`);
    return line.trim();
  }
  requireTerminal(what, 'pass --mfa-code CODE (or --mfa-code - to read it from stdin)');
  if (refused) options.io.stderr(`That code was refused: ${refused} Try again.\n`);
  const code = await input({ message: `Enter ${what}:`, required: true, validate: (v) => /^\d{6,8}$/.test(v.trim()) || 'A code is 6 to 8 digits.' }, output);
  return code.trim();
}

const METHOD_NAMES: Readonly<Record<string, MfaMethod>> = { sms: 'SMS', totp: 'TOTP', email: 'EMAIL' };

/** Parses --mfa-method. */
export function parseMfaMethod(value: string | undefined): MfaMethod | undefined {
  return value === undefined ? undefined : METHOD_NAMES[value.toLowerCase()];
}

async function chooseMfaMethod(offered: readonly MfaMethod[], options: ChallengeAnswerOptions): Promise<MfaMethod> {
  if (options.mfaMethod) return options.mfaMethod;
  const names = offered.map((m) => m.toLowerCase());
  if (!isInteractive()) {
    // A code given ahead of time is most likely an authenticator app's.
    if (options.mfaCode !== undefined) return offered.includes('TOTP') ? 'TOTP' : (offered[0] as MfaMethod);
    throw new NoTerminalError(`the MFA method (${names.join(', ')})`, 'pass --mfa-method METHOD');
  }
  const answer = await input({
    message: `Choose an MFA method (${names.join(', ')}):`,
    required: true,
    validate: (v) => names.includes(v.trim().toLowerCase()) || `One of: ${names.join(', ')}.`,
  }, output);
  return METHOD_NAMES[answer.trim().toLowerCase()] as MfaMethod;
}

/**
 * MFA_SETUP: the new TOTP secret, once, as a QR code an authenticator app scans and as
 * the otpauth:// URI and key to type in. It is shown, not stored: the app keeps it.
 */
async function showTotpSetup(uri: string, secretCode: string, io: CliIo): Promise<void> {
  const qr = await requireCommonJs<typeof QRCodeModule>('qrcode').toString(uri, { type: 'terminal', small: true });
  io.stderr(
    [
      'The user pool requires an authenticator app (TOTP). Scan this QR code with it,',
      'or add the key by hand. This is shown once and not stored by cognito-broker.',
      '',
      qr,
      `  ${uri}`,
      `  Key: ${secretCode}`,
      '',
    ].join('\n'),
  );
}
