import type { Logger } from 'pino';
import type { SessionNotice } from '../broker/session-notice.js';
import { type Notifier, type RunProgram, runProgram, withoutSecrets } from './notifier.js';

/** A notify command that has not ended after this long is killed (it should only hand the message on). */
export const NOTIFY_COMMAND_TIMEOUT_MS = 60_000;

/**
 * `notify.command`: the user's program, run directly (an argv array, never a shell line),
 * with the notice in COGNITO_BROKER_PROFILE, COGNITO_BROKER_STATE and COGNITO_BROKER_MESSAGE,
 * and the daemon's environment without its secrets.
 */
export class CommandNotifier implements Notifier {
  constructor(
    private readonly argv: readonly [string, ...string[]],
    private readonly logger: Logger,
    private readonly run: RunProgram = runProgram,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async notify(notice: SessionNotice): Promise<void> {
    const [file, ...args] = this.argv;
    const env = { ...withoutSecrets(this.env), COGNITO_BROKER_PROFILE: notice.profile, COGNITO_BROKER_STATE: notice.state, COGNITO_BROKER_MESSAGE: notice.message };
    const outcome = await this.run(file, args, { env, timeoutMs: NOTIFY_COMMAND_TIMEOUT_MS });
    const fields = { profile: notice.profile, state: notice.state, command: file };
    if ('error' in outcome) this.logger.warn({ ...fields, error: outcome.error }, `notify.command could not be run (${outcome.error === 'ENOENT' ? 'not found' : outcome.error})`);
    else if (outcome.code !== 0) this.logger.warn({ ...fields, exitCode: outcome.code }, `notify.command exited with ${outcome.code}`);
    else this.logger.info(fields, 'notify.command ran');
  }
}
