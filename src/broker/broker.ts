import type { Config } from '../config/config.js';
import { UnknownProfileError } from '../errors.js';
import type { ProfileSession, ProfileStatus } from './profile-session.js';

/** All profiles' sessions, by name. */
export class Broker {
  private readonly sessions: ReadonlyMap<string, ProfileSession>;

  constructor(
    private readonly config: Pick<Config, 'defaultProfile'>,
    sessions: readonly ProfileSession[],
    /** Where the sessions are kept ("keychain", …), for status. */
    private readonly secretStore?: string,
  ) {
    this.sessions = new Map(sessions.map((s) => [s.name, s]));
  }

  get defaultProfile(): string {
    return this.config.defaultProfile;
  }

  /** The named profile's session (the default profile's when no name is given). */
  session(name: string = this.config.defaultProfile): ProfileSession {
    const session = this.sessions.get(name);
    if (!session) throw new UnknownProfileError(name, [...this.sessions.keys()]);
    return session;
  }

  start(): void {
    for (const session of this.sessions.values()) session.start();
  }

  /**
   * Resolves once every session's first refresh since start() has ended, however it ended (see
   * ProfileSession.firstRefresh); never rejects.
   */
  async firstRefreshes(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((session) => session.firstRefresh()));
  }

  /** Stops every session; resolves once each made its last keychain write (bounded, see ProfileSession.stop). */
  async stop(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((session) => session.stop()));
  }

  status(): ProfileStatus[] {
    return [...this.sessions.values()].map((s) => (this.secretStore ? { ...s.status(), secretStore: this.secretStore } : s.status()));
  }
}
