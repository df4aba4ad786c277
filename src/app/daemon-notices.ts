import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ProfileStatus, SessionWatcher } from '../broker/profile-session.js';
import type { SessionNotice } from '../broker/session-notice.js';
import type { Config } from '../config/config.js';
import { writePrivateFile } from '../store/atomic-file.js';
import { PROMPT_FILE, type PromptFile, type PromptProfile, readPromptFile } from '../store/prompt-file.js';
import { CommandNotifier } from './command-notifier.js';
import { DesktopNotifier } from './desktop-notifier.js';
import type { Notifier } from './notifier.js';

export interface DaemonNoticesDeps {
  readonly config: Pick<Config, 'file' | 'stateDir' | 'defaultProfile' | 'profiles'>;
  /** Each is told of every notice raised; default: from the config (see notifiersFor). */
  readonly notifiers: readonly Notifier[];
  readonly logger: Logger;
  readonly pid?: number;
  readonly now?: () => number;
}

/**
 * What `serve` tells the user without being asked: it keeps `<state dir>/prompt.json` (what
 * `status --prompt` reads) true after every change, and hands each notice a session raises
 * to the notifiers (a desktop notification, `notify.command`).
 */
export class DaemonNotices implements SessionWatcher {
  private readonly file: string;
  private readonly pid: number;
  private readonly profiles = new Map<string, PromptProfile>();
  private writing: Promise<void> | undefined;
  private dirty = false;
  /** Nothing is written before start(): until it listens, another daemon may be the running one. */
  private started = false;
  /** Notices raised before start(), told then. */
  private readonly held: SessionNotice[] = [];
  private readonly notifying = new Set<Promise<void>>();

  constructor(private readonly deps: DaemonNoticesDeps) {
    this.file = join(deps.config.stateDir, PROMPT_FILE);
    this.pid = deps.pid ?? process.pid;
    for (const name of Object.keys(deps.config.profiles)) this.profiles.set(name, { state: 'starting' });
  }

  /** Once the daemon listens: writes the file, and rewrites it on every change from then on. */
  async start(): Promise<void> {
    this.started = true;
    this.save();
    for (const notice of this.held.splice(0)) this.notify(notice);
    await this.writing;
  }

  changed(status: ProfileStatus, raised: SessionNotice | undefined): void {
    this.profiles.set(status.profile, {
      state: status.phase,
      ...(status.endsSoon ? { endsSoon: true } : {}),
      ...(status.signInEndsAt ? { signInEndsAt: status.signInEndsAt } : {}),
      ...(status.credentialsExpireAt ? { credentialsExpireAt: status.credentialsExpireAt } : {}),
    });
    this.save();
    if (raised) this.notify(raised);
  }

  /** Waits for notifications under way (each bounded by its helper's timeout), then removes the file. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.notifying]);
    await this.writing;
    // Its own file only: another daemon may have started since.
    if (this.started && readPromptFile(this.file)?.pid === this.pid) await rm(this.file, { force: true }).catch(() => undefined);
  }

  private notify(notice: SessionNotice): void {
    if (!this.started) {
      this.held.push(notice);
      return;
    }
    this.deps.logger.warn({ profile: notice.profile, state: notice.state }, `notice: ${notice.message}`);
    for (const notifier of this.deps.notifiers) {
      const sent: Promise<void> = notifier
        .notify(notice)
        .catch((error: unknown) => this.deps.logger.warn({ profile: notice.profile, error: (error as Error).message }, 'a notifier failed'))
        .finally(() => this.notifying.delete(sent));
      this.notifying.add(sent);
    }
  }

  /** One write at a time; changes that come meanwhile go in the next, which writes the latest. */
  private save(): void {
    if (!this.started) return;
    if (this.writing) {
      this.dirty = true;
      return;
    }
    this.writing = (async () => {
      do {
        this.dirty = false;
        const content: PromptFile = {
          v: 1,
          pid: this.pid,
          config: this.deps.config.file,
          defaultProfile: this.deps.config.defaultProfile,
          updatedAt: new Date((this.deps.now ?? Date.now)()).toISOString(),
          profiles: Object.fromEntries(this.profiles),
        };
        await writePrivateFile(this.file, `${JSON.stringify(content)}\n`);
      } while (this.dirty);
    })()
      .catch((error: unknown) => this.deps.logger.warn({ file: this.file, error: (error as Error).message }, 'the prompt file could not be written'))
      .finally(() => {
        this.writing = undefined;
        if (this.dirty) this.save();
      });
  }
}

/** The notifiers the config asks for: the desktop's (unless "notify.desktop" is false), then notify.command. */
export function notifiersFor(config: Pick<Config, 'notify'>, logger: Logger): Notifier[] {
  const notifiers: Notifier[] = [];
  if (config.notify?.desktop !== false) notifiers.push(new DesktopNotifier(logger));
  const command = config.notify?.command;
  if (command && command.length > 0) notifiers.push(new CommandNotifier(command as [string, ...string[]], logger));
  return notifiers;
}
