import { Writable } from 'node:stream';
import { ProfileSession } from '../../src/broker/profile-session.js';
import type { ProfileConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
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
}

/** A ProfileSession on fake time, fake Cognito and an in-memory keychain. */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = new FakeClock();
  const upstream = new MemoryCognito({ clock, idTokenLifetimeMs: options.idTokenLifetimeMs, credentialLifetimeMs: options.credentialsLifetimeMs, latencyMs: options.latencyMs });
  const secrets = options.secrets ?? new MemoryStore();
  const sessions = new SessionStore(secrets);
  const profile = options.profile ?? PROFILE;
  if (options.signedIn !== false) await sessions.save(profile, storedSession());
  const logs = new LogCapture();
  const session = new ProfileSession({
    profile,
    sessions,
    userPool: upstream,
    identityPool: upstream,
    clock,
    logger: createLogger({ level: 'trace', destination: logs }),
    random: options.random ?? (() => 0.5),
  });
  return { clock, upstream, secrets, sessions, session, logs };
}
