import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import type { IdentityCommand, IdentityCommandResult } from '../cognito/developer-identity.js';
import type { ProfileConfig } from '../config/config.js';

/** A token answer is a few kilobytes; more on stdout is a mistake (and is not kept in memory). */
export const IDENTITY_COMMAND_STDOUT_MAX_BYTES = 64 * 1024;
/** Per run, what of the command's stderr reaches the log: enough to see why, not a flood. */
export const IDENTITY_COMMAND_LOG_LINES_MAX = 20;
const LOG_LINE_MAX_CHARS = 500;

export interface IdentityCommandRunnerOptions {
  readonly profile: ProfileConfig;
  /**
   * `login`: the command gets the terminal (stdin and stderr are the user's: it may prompt),
   * and no timeout but the user's Ctrl-C. Otherwise (serve, exec, …) stdin is empty, stderr
   * goes to the log, line by line with anything token-like redacted, and a run that outlasts
   * `timeoutSeconds` is killed with the processes it started.
   */
  readonly interactive: boolean;
  readonly logger?: Logger | undefined;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Runs a developerIdentity profile's command: argv as configured (no shell), with
 * COGNITO_BROKER_PROFILE, COGNITO_BROKER_REGION, COGNITO_BROKER_IDENTITY_POOL_ID and
 * COGNITO_BROKER_INTERACTIVE ("1" at login, else "0") added to the environment. Its stdout,
 * which holds the token, goes nowhere but the result.
 */
export class IdentityCommandRunner implements IdentityCommand {
  constructor(private readonly options: IdentityCommandRunnerOptions) {}

  run(): Promise<IdentityCommandResult> {
    const { profile, interactive } = this.options;
    const config = profile.developerIdentity;
    if (!config) throw new Error(`profile "${profile.name}" has no developerIdentity command`);
    const [program, ...args] = config.command as [string, ...string[]];
    const env = {
      ...(this.options.env ?? process.env),
      COGNITO_BROKER_PROFILE: profile.name,
      COGNITO_BROKER_REGION: profile.region,
      COGNITO_BROKER_IDENTITY_POOL_ID: profile.identityPoolId,
      COGNITO_BROKER_INTERACTIVE: interactive ? '1' : '0',
    };
    return new Promise((resolve) => {
      // In the background the command leads a process group of its own, so a timeout ends
      // whatever it started too; at login it stays in the terminal's group (prompts, Ctrl-C).
      const child = spawn(program, args, { env, stdio: [interactive ? 'inherit' : 'ignore', 'pipe', interactive ? 'inherit' : 'pipe'], detached: !interactive });
      const chunks: Buffer[] = [];
      let size = 0;
      let overflow = false;
      let timedOut = false;
      const kill = () => {
        try {
          if (child.pid !== undefined) process.kill(interactive ? child.pid : -child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      };
      child.stdout?.on('data', (chunk: Buffer) => {
        if (overflow) return;
        size += chunk.length;
        if (size > IDENTITY_COMMAND_STDOUT_MAX_BYTES) {
          overflow = true;
          chunks.length = 0;
          kill();
        } else chunks.push(chunk);
      });
      if (child.stderr) this.logLines(child.stderr);
      const timer = interactive ? undefined : setTimeout(() => {
        timedOut = true;
        kill();
      }, config.timeoutSeconds * 1000);
      let done = false;
      const finish = (result: IdentityCommandResult) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        resolve(result);
      };
      child.on('error', (error: NodeJS.ErrnoException) => finish({ exitCode: null, signal: null, stdout: '', spawnError: error.code ?? error.name }));
      child.on('close', (exitCode, signal) => {
        const stdout = overflow ? '' : Buffer.concat(chunks).toString('utf8');
        finish({ exitCode, signal: timedOut || overflow ? null : signal, stdout, timedOut, overflow });
      });
    });
  }

  /** The command's stderr, to the log: line by line, token-like text redacted, at most IDENTITY_COMMAND_LOG_LINES_MAX lines a run. */
  private logLines(stream: NodeJS.ReadableStream): void {
    let pending = '';
    let lines = 0;
    const emit = (line: string) => {
      if (line.trim() === '' || lines >= IDENTITY_COMMAND_LOG_LINES_MAX) return;
      lines += 1;
      const shown = redactTokens(line).slice(0, LOG_LINE_MAX_CHARS);
      this.options.logger?.info({ profile: this.options.profile.name, stderr: shown }, 'developerIdentity command');
    };
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      pending += text;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) emit(part);
      // A line without end never grows past what is shown.
      if (pending.length > LOG_LINE_MAX_CHARS) {
        emit(pending);
        pending = '';
      }
    });
    stream.on('end', () => emit(pending));
  }
}

/**
 * Anything that could be a token or a key, replaced: JWTs, and every unbroken run of 24 or
 * more characters of the alphabets tokens and keys are written in (base64, base64url, hex).
 * A backend that prints its own diagnostics keeps its words; a token it prints by mistake
 * does not reach the log.
 */
export function redactTokens(line: string): string {
  return line
    .replace(/eyJ[\w-]*\.[\w-]*\.?[\w-]*/g, '[redacted]')
    .replace(/[A-Za-z0-9+/_=-]{24,}/g, '[redacted]');
}
