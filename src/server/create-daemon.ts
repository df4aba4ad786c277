import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Broker } from '../broker/broker.js';
import { type Clock, systemClock } from '../broker/clock.js';
import { BorrowedSessionStore, BorrowedTokens } from '../broker/borrowed-sign-in.js';
import { ProfileSession } from '../broker/profile-session.js';
import { createCognitoClients } from '../cognito/create-cognito-clients.js';
import { revokeSession, type SignOutClients } from '../cognito/sign-out.js';
import type { CredentialExchanger, TokenRefresher } from '../cognito/types.js';
import type { Config, ProfileConfig } from '../config/config.js';
import { PortInUseError } from '../errors.js';
import { FileLock, refreshLockFile } from '../store/file-lock.js';
import type { SecretStore } from '../store/secret-store.js';
import { SessionMirror } from '../store/session-mirror.js';
import { SessionStore } from '../store/session-store.js';

export interface DaemonDeps {
  readonly config: Config;
  readonly secrets: SecretStore;
  readonly authToken: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Real AWS SDK clients by default; tests put a fault-injecting layer here. */
  readonly createClients?: (profile: ProfileConfig) => UpstreamClients;
  /**
   * A command's broker rather than serve's: keep the last ID and access tokens with the
   * session in the keychain, and use those another command left (see ProfileSessionDeps).
   */
  readonly shareTokens?: boolean;
}

/** What the broker needs of Cognito for one profile. */
export interface UpstreamClients {
  readonly userPool: TokenRefresher;
  /** Refreshes each session the way it was signed in (password, browser, OIDC); default: userPool. */
  readonly refresher?: TokenRefresher;
  readonly identityPool: CredentialExchanger;
  /** Revokes a rotated refresh token the broker drops before the keychain held it; absent, it is left to expire. */
  readonly signOut?: SignOutClients | undefined;
  destroy(): void;
}

export interface Daemon {
  readonly broker: Broker;
  /** The HTTP app, once ready() or listen() has resolved (before, reading it throws). */
  readonly app: FastifyInstance;
  /** Builds the HTTP app and readies it, without starting the sessions or listening. */
  ready(): Promise<FastifyInstance>;
  /** Starts the sessions, builds the app and listens; resolves with the base URL, e.g. http://127.0.0.1:9911 */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** The app factory: wires the broker, its Cognito clients and the HTTP app for one config. */
export function createDaemon(deps: DaemonDeps): Daemon {
  const clock = deps.clock ?? systemClock;
  const sessions = new SessionStore(deps.secrets);
  const createClients = deps.createClients ?? ((profile: ProfileConfig) => createCognitoClients(profile, () => clock.now()));
  const clients: { profile: ProfileConfig; clients: UpstreamClients }[] = [];
  const byName = new Map<string, ProfileSession>();
  const sessionOf = (profile: ProfileConfig): ProfileSession => {
    const known = byName.get(profile.name);
    if (known) return known;
    const c = createClients(profile);
    clients.push({ profile, clients: c });
    const owner = profile.signInFrom;
    // signInFrom: the owner's keychain entry and ID tokens, our own identity-pool calls.
    // The owner is served too when the config has it; else (a command serving one profile
    // in-process) it runs unlisted, for this profile's sake.
    const ownerSession = owner ? (byName.get(owner.name) ?? sessionOf(owner)) : undefined;
    const signOut = c.signOut;
    // A borrowing profile never sends, writes or revokes the owner's refresh token: no lock, no revoker.
    const session = new ProfileSession({
      profile,
      mirror: new SessionMirror({ profile, sessions: owner ? new BorrowedSessionStore(deps.secrets, owner) : sessions, clock, logger: deps.logger }),
      userPool: ownerSession ? new BorrowedTokens(profile.name, ownerSession, clock) : (c.refresher ?? c.userPool),
      identityPool: c.identityPool,
      clock,
      logger: deps.logger,
      random: deps.random,
      lock: owner ? undefined : new FileLock(refreshLockFile(deps.config.stateDir, profile.name), { profile: profile.name, logger: deps.logger }),
      revoke: owner || !signOut ? undefined : (request) => revokeSession(request, signOut),
      shareTokens: deps.shareTokens === true,
    });
    byName.set(profile.name, session);
    return session;
  };
  // Owners first, so a borrowing profile finds its owner's session.
  const profiles = Object.values(deps.config.profiles);
  for (const profile of [...profiles.filter((p) => !p.signInFrom), ...profiles.filter((p) => p.signInFrom)]) sessionOf(profile);
  // In the config's order; an unlisted owner last.
  const ordered = [...profiles.map((p) => byName.get(p.name) as ProfileSession), ...[...byName.values()].filter((s) => !Object.hasOwn(deps.config.profiles, s.name))];
  const broker = new Broker(deps.config, ordered);

  // fastify (build-app, ~200 ms to load) is imported only once the sessions have started, so
  // the first refresh's waits (keychain over D-Bus, Cognito round trips) overlap with loading
  // it. The AWS SDK clients stay static imports: the refresh needs them at once.
  let building: Promise<FastifyInstance> | undefined;
  let built: FastifyInstance | undefined;
  const build = (): Promise<FastifyInstance> =>
    (building ??= import('./build-app.js').then(({ buildApp }) => {
      built = buildApp({ broker, authToken: deps.authToken, logger: deps.logger, host: deps.config.server.host });
      return built;
    }));

  return {
    broker,
    get app(): FastifyInstance {
      if (!built) throw new Error('Daemon.app is there once ready() or listen() has resolved');
      return built;
    },
    async ready() {
      const app = await build();
      await app.ready();
      return app;
    },
    async listen() {
      const { host, port } = deps.config.server;
      broker.start();
      let app: FastifyInstance;
      try {
        app = await build();
        await app.listen({ host, port, listenTextResolver: (address) => `listening on ${address}` });
      } catch (error) {
        broker.stop();
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(host, port);
        throw error;
      }
      return baseUrl(app, host);
    },
    async close() {
      // The sessions' last keychain writes and revocations, before the clients go.
      await broker.stop();
      // A command that never listened (credential-process) never loaded fastify.
      const app = await building?.catch(() => undefined);
      await app?.close();
      for (const c of clients) c.clients.destroy();
    },
  };
}

function baseUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
