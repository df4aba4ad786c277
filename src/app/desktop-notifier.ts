import type { Logger } from 'pino';
import type { SessionNotice } from '../broker/session-notice.js';
import { type Notifier, type RunProgram, runProgram, withoutSecrets } from './notifier.js';

/** A notification helper that has not answered by then is given up (a hung session bus). */
export const DESKTOP_NOTIFY_TIMEOUT_MS = 10_000;

/** One way to show a notification: a program and its arguments. */
interface Attempt {
  readonly file: string;
  readonly args: readonly string[];
}

/**
 * A desktop notification, through programs the desktop already has (no D-Bus library is a
 * dependency): on Linux and other Unixes the freedesktop Notifications service on the
 * session bus, called with `gdbus` (GLib's, on every GNOME and most other desktops), else
 * `notify-send` (libnotify); on macOS `osascript` (Notification Center). Without a desktop
 * (no session bus, an SSH box) it logs once why nothing was shown.
 */
export class DesktopNotifier implements Notifier {
  private warned = false;

  constructor(
    private readonly logger: Logger,
    private readonly platform: NodeJS.Platform = process.platform,
    private readonly run: RunProgram = runProgram,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async notify(notice: SessionNotice): Promise<void> {
    const summary = notice.state === 'login-required' ? `cognito-broker: "${notice.profile}" needs a login` : `cognito-broker: the sign-in of "${notice.profile}" ends soon`;
    const failures: string[] = [];
    for (const attempt of desktopAttempts(this.platform, summary, notice)) {
      const outcome = await this.run(attempt.file, attempt.args, { env: withoutSecrets(this.env), timeoutMs: DESKTOP_NOTIFY_TIMEOUT_MS });
      if ('code' in outcome && outcome.code === 0) {
        this.logger.debug({ profile: notice.profile, state: notice.state, via: attempt.file }, 'desktop notification sent');
        return;
      }
      failures.push(`${attempt.file}: ${'code' in outcome ? `exit ${outcome.code}` : outcome.error === 'ENOENT' ? 'not installed' : outcome.error}`);
    }
    const fields = { profile: notice.profile, state: notice.state, tried: failures };
    const message = failures.length === 0 ? `no desktop notifications on ${this.platform}` : 'no desktop notification could be shown (no desktop session?)';
    // Once at warn: a machine without a desktop says so every time otherwise.
    if (this.warned) this.logger.debug(fields, message);
    else this.logger.warn(fields, `${message}; set "notify": {"desktop": false} to stop trying`);
    this.warned = true;
  }
}

/** What to try, in order, on this platform. */
export function desktopAttempts(platform: NodeJS.Platform, summary: string, notice: SessionNotice): Attempt[] {
  if (platform === 'darwin') {
    // The text goes in as arguments, never into the script's source.
    return [{ file: 'osascript', args: ['-e', 'on run argv', '-e', 'display notification (item 2 of argv) with title (item 1 of argv)', '-e', 'end run', summary, notice.message] }];
  }
  if (platform === 'win32') return [];
  // freedesktop Desktop Notifications 1.2: Notify(app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout).
  const urgency = notice.state === 'login-required' ? 2 : 1;
  const gdbus = [
    'call', '--session',
    '--dest', 'org.freedesktop.Notifications',
    '--object-path', '/org/freedesktop/Notifications',
    '--method', 'org.freedesktop.Notifications.Notify',
    '--', gvariantString('cognito-broker'), 'uint32 0', gvariantString('dialog-password'), gvariantString(summary), gvariantString(notice.message),
    '@as []', `{'urgency': <byte ${urgency}>, 'desktop-entry': <'cognito-broker'>}`, 'int32 -1',
  ];
  return [
    { file: 'gdbus', args: gdbus },
    { file: 'notify-send', args: [`--urgency=${urgency === 2 ? 'critical' : 'normal'}`, '--app-name=cognito-broker', '--', summary, notice.message] },
  ];
}

/** A GVariant text-format string: gdbus parses each argument, so text is quoted, never left to be parsed as something else. */
export function gvariantString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
