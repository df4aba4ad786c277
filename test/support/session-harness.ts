import { Writable } from 'node:stream';
import { ProfileSession, type RevokeRefreshToken, type SessionWatcher } from '../../src/broker/profile-session.js';
import type { ProfileConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { RefreshLock } from '../../src/store/refresh-lock.js';
import { SessionMirror } from '../../src/store/session-mirror.js';
import { SessionStore, type StoredSession } from '../../src/store/session-store.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { MemoryCognito } from '../../testkit/memory-cognito.js';

export const PROFILE: ProfileConfig = Object.freeze({
  name: 'default',
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_Test12345',
  clientId: 'client123',
  identityPoolId: 'eu-west-1:11111111-2222-3333-4444-555555555555',
});

export function storedSession(refreshToken = 'refresh-token-one'): StoredSession {
  return { v: 1, refreshToken, username: 'alice', userPoolId: PROFILE.userPoolId, clientId: PROFILE.clientId, signedInAt: 0 };
}

/** Collects log lines as parsed JSON. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
}

export interface Harness {
  readonly clock: FakeClock;
  readonly upstream: MemoryCognito;
  readonly secrets: MemoryStore;
  readonly sessions: SessionStore;
  readonly session: ProfileSession;
  readonly logs: LogCapture;
  /** Every refresh token the session revoked, as sent. */
  readonly revoked: string[];
}

export interface HarnessOptions {
  readonly signedIn?: boolean;
  readonly idTokenLifetimeMs?: number;
  readonly credentialsLifetimeMs?: number;
  readonly latencyMs?: number;
  readonly random?: () => number;
  readonly profile?: ProfileConfig;
  /** The keychain: a MemoryStore, or a test's subclass of it (one that hangs, say). */
  readonly secrets?: MemoryStore;
  /** Another process's harness: the same clock and Cognito (with `secrets`, the same keychain). */
  readonly like?: Pick<Harness, 'clock' | 'upstream'>;
  readonly lock?: RefreshLock;
  /** As a command without a daemon: tokens shared through the keychain. */
  readonly shareTokens?: boolean;
  /** Told of the session's changes and notices. */
  readonly watcher?: SessionWatcher;
}

/** A ProfileSession on fake time, fake Cognito and an in-memory keychain. */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = options.like?.clock ?? new FakeClock();
  const upstream = options.like?.upstream ?? new MemoryCognito({ clock, idTokenLifetimeMs: options.idTokenLifetimeMs, credentialLifetimeMs: options.credentialsLifetimeMs, latencyMs: options.latencyMs });
  const secrets = options.secrets ?? new MemoryStore();
  const sessions = new SessionStore(secrets);
  const profile = options.profile ?? PROFILE;
  if (options.signedIn !== false) await sessions.save(profile, storedSession());
  const logs = new LogCapture();
  const logger = createLogger({ level: 'trace', destination: logs });
  const revoked: string[] = [];
  const revoke: RevokeRefreshToken = async (request) => {
    revoked.push(request.refreshToken);
    return { done: true, what: 'the refresh token was revoked (test)' };
  };
  const session = new ProfileSession({
    profile,
    mirror: new SessionMirror({ profile, sessions, clock, logger }),
    refresher: upstream,
    identityPool: upstream,
    clock,
    logger,
    random: options.random ?? (() => 0.5),
    revoke,
    ...(options.lock ? { lock: options.lock } : {}),
    ...(options.shareTokens ? { shareTokens: true } : {}),
    ...(options.watcher ? { watcher: options.watcher } : {}),
  });
  return { clock, upstream, secrets, sessions, session, logs, revoked };
}
