import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Broker } from '../broker/broker.js';
import { type Clock, systemClock } from '../broker/clock.js';
import { BorrowedSessionStore, BorrowedTokens } from '../broker/borrowed-sign-in.js';
import { ProfileSession, type SessionWatcher } from '../broker/profile-session.js';
import { createCognitoClients } from '../cognito/create-cognito-clients.js';
import { revokeSession, type SignOutClients } from '../cognito/sign-out.js';
import type { CredentialExchanger, TokenRefresher } from '../cognito/types.js';
import type { Config, ProfileConfig } from '../config/config.js';
import { PortHeldByOtherUserError, PortInUseError } from '../errors.js';
import { FileLock, refreshLockFile } from '../store/file-lock.js';
import type { SecretStore } from '../store/secret-store.js';
import { SessionMirror } from '../store/session-mirror.js';
import { SessionStore } from '../store/session-store.js';
import { EndpointAuth } from '../server/endpoint-auth.js';
import type { ListenerPolicy } from '../server/build-app.js';
import { containerTokensFile } from '../store/container-token-registry.js';
import { ContainerListeners } from './container-listeners.js';
import { ContainerTokenAdmin } from './container-token-admin.js';
import { IdentityCommandRunner } from './identity-command-runner.js';
import { listenAddresses, listenOn } from './listen-addresses.js';
import { describeOwner, listenerOwner } from './listener-owner.js';
import { UnwrittenRequests } from './unwritten-requests.js';

export interface DaemonDeps {
  readonly config: Config;
  readonly secrets: SecretStore;
  /** The token file's value: opens everything, and every other token is derived from it. */
  readonly masterToken: string;
  readonly logger: Logger;
  /**
   * Listening sockets handed over by the service manager (systemd socket activation): served
   * in place of binding server.host and server.port, so the port is never free for another
   * user to take while the daemon restarts.
   */
  readonly inheritedFds?: readonly number[];
  /** How server.host becomes addresses to bind; default: listenAddresses (DNS for "localhost"). */
  readonly resolveHost?: (host: string) => Promise<string[]>;
  /**
   * A command's broker rather than serve's: keep the last ID and access tokens with the
   * session in the keychain, and use those another command left (see ProfileSessionDeps).
   */
  readonly shareTokens?: boolean;
  readonly clock?: Clock;
  readonly random?: () => number;
  /**
   * Real AWS SDK clients by default; tests put a fault-injecting layer here. onRequest is to
   * be told as each request to Cognito is about to be sent (see firstRequestsWritten).
   */
  readonly createClients?: (profile: ProfileConfig, onRequest: () => void) => UpstreamClients;
  /** With server.containers: whether the container address is on this machine (default: a bind probe), and how often to look. */
  readonly isLocalAddress?: (address: string) => Promise<boolean>;
  readonly containerPollMs?: number;
  /** How long listen() waits for each session's first request to begin, at most (default FIRST_REQUESTS_WAIT_MS). */
  readonly firstRequestsWaitMs?: number;
  /** Loads fastify (default: build-app's loadFastify); tests make it take as long as a first load does. */
  readonly loadFastify?: () => void;
  /** Told of every session's changes and notices (serve's prompt file and notifications); default: none. */
  readonly watcher?: SessionWatcher;
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
  /** Which tokens open what; setMaster() takes up a rotated master token. */
  readonly auth: EndpointAuth;
  /** The (first) HTTP app, once ready() or listen() has resolved (before, reading it throws). */
  readonly app: FastifyInstance;
  /** Builds the HTTP app and readies it, without starting the sessions or listening. */
  ready(): Promise<FastifyInstance>;
  /**
   * Starts the sessions, builds the app and listens on every address server.host names
   * ("localhost": each address it resolves to, or none at all); resolves with the base URL,
   * which names the first bound address (IPv4 first), e.g. http://127.0.0.1:9911.
   */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** The app factory: wires the broker, its Cognito clients and the HTTP app for one config. */
export function createDaemon(deps: DaemonDeps): Daemon {
  const clock = deps.clock ?? systemClock;
  const sessions = new SessionStore(deps.secrets);
  // A developerIdentity command runs in the background here: stdin empty, stderr to the log.
  const createClients = deps.createClients ?? ((profile: ProfileConfig, onRequest: () => void) =>
    createCognitoClients(profile, () => clock.now(), { identityCommand: new IdentityCommandRunner({ profile, interactive: false, logger: deps.logger }), onRequest }));
  const clients: { profile: ProfileConfig; clients: UpstreamClients }[] = [];
  const byName = new Map<string, ProfileSession>();
  const firstRequests = new Map<ProfileSession, Promise<void>>();
  const sessionOf = (profile: ProfileConfig): ProfileSession => {
    const known = byName.get(profile.name);
    if (known) return known;
    let requested: () => void = () => undefined;
    const firstRequest = new Promise<void>((resolve) => {
      requested = resolve;
    });
    const c = createClients(profile, () => requested());
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
      refresher: ownerSession ? new BorrowedTokens(profile.name, ownerSession, clock) : (c.refresher ?? c.userPool),
      identityPool: c.identityPool,
      clock,
      logger: deps.logger,
      random: deps.random,
      lock: owner ? undefined : new FileLock(refreshLockFile(deps.config.stateDir, profile.name), { profile: profile.name, logger: deps.logger }),
      revoke: owner || !signOut ? undefined : (request) => revokeSession(request, signOut),
      shareTokens: deps.shareTokens === true,
      ...(deps.watcher ? { watcher: deps.watcher } : {}),
    });
    byName.set(profile.name, session);
    // A borrowing session's first request of its own waits for its owner's whole refresh.
    firstRequests.set(session, ownerSession ? (firstRequests.get(ownerSession) as Promise<void>) : firstRequest);
    return session;
  };
  // Owners first, so a borrowing profile finds its owner's session.
  const profiles = Object.values(deps.config.profiles);
  for (const profile of [...profiles.filter((p) => !p.signInFrom), ...profiles.filter((p) => p.signInFrom)]) sessionOf(profile);
  // In the config's order; an unlisted owner last.
  const ordered = [...profiles.map((p) => byName.get(p.name) as ProfileSession), ...[...byName.values()].filter((s) => !Object.hasOwn(deps.config.profiles, s.name))];
  const broker = new Broker(deps.config, ordered, deps.secrets.kind);

  const auth = new EndpointAuth(deps.masterToken, Object.keys(deps.config.profiles));
  const containersConfig = deps.config.server.containers;
  let containerListeners: ContainerListeners | undefined;
  const containers = containersConfig
    ? new ContainerTokenAdmin(containerTokensFile(deps.config.stateDir), auth, () =>
      containerListeners?.state() ?? { address: containersConfig.address, port: containersConfig.port, listening: false, relativeUri: { listening: false } }, () => clock.now())
    : undefined;

  // The HTTP side loads in three parts. The server's modules (build-app) from the start of
  // listen(), while the first refreshes wait on the keychain and Cognito. fastify itself, which
  // blocks the event loop for some tens of milliseconds, only once each session's first
  // request is written (firstRequestsWritten): begun while a refresh still waits on the
  // keychain, the SDK's first read of ~/.aws/config, a DNS lookup or a TLS handshake, it
  // would hold that request back instead of overlapping its round trip. The app's build and
  // listen only once an answer that came in during that load has been handled
  // (answersHandled). The AWS SDK clients stay static imports: the refresh needs them at once.
  let serverModule: Promise<typeof import('../server/build-app.js')> | undefined;
  const server = () => (serverModule ??= import('../server/build-app.js'));
  const apps: FastifyInstance[] = [];
  let building: Promise<FastifyInstance> | undefined;
  const newApp = async (): Promise<FastifyInstance> => {
    const { buildApp } = await server();
    const app = buildApp({ broker, auth, logger: deps.logger, host: deps.config.server.host, ...(containers ? { containers } : {}) });
    apps.push(app);
    return app;
  };
  // The container listener's apps come and go with the address; ContainerListeners closes them.
  const newContainerApp = async (listener: ListenerPolicy): Promise<FastifyInstance> => {
    const { buildApp } = await server();
    return buildApp({ broker, auth, logger: deps.logger, listener });
  };
  const first = (): Promise<FastifyInstance> => (building ??= newApp());

  return {
    broker,
    auth,
    get app(): FastifyInstance {
      const app = apps[0];
      if (!app) throw new Error('Daemon.app is there once ready() or listen() has resolved');
      return app;
    },
    async ready() {
      const app = await first();
      await app.ready();
      return app;
    },
    async listen() {
      const unwritten = new UnwrittenRequests();
      unwritten.watch();
      broker.start();
      // In the background; a failure to load shows where it is awaited, inside the try below.
      server().catch(() => undefined);
      try {
        await firstRequestsWritten(firstRequests, unwritten, deps.firstRequestsWaitMs ?? FIRST_REQUESTS_WAIT_MS);
        (deps.loadFastify ?? (await server()).loadFastify)();
        await answersHandled(unwritten);
      } catch {
        // A module that failed to load fails again where the app is built, below, which stops the sessions.
      } finally {
        unwritten.stop();
      }
      try {
        // Before any listener: a token made through the loopback listener must not replace the registry's others.
        await containers?.load();
        if (deps.inheritedFds?.length) {
          for (const [i, fd] of deps.inheritedFds.entries()) await listenOn(i === 0 ? await first() : await newApp(), { fd });
        } else {
          await listenEverywhere(await (deps.resolveHost ?? listenAddresses)(deps.config.server.host), deps.config.server.port, first, newApp, apps);
        }
        if (containersConfig) {
          const { containerListener } = await server();
          containerListeners = new ContainerListeners({
            config: containersConfig,
            defaultPort: ((apps[0] as FastifyInstance).server.address() as AddressInfo).port,
            newApp: newContainerApp,
            policyFor: containerListener,
            logger: deps.logger,
            ...(deps.isLocalAddress ? { isLocalAddress: deps.isLocalAddress } : {}),
            ...(deps.containerPollMs !== undefined ? { pollMs: deps.containerPollMs } : {}),
          });
          await containerListeners.start();
        }
      } catch (error) {
        broker.stop();
        await containerListeners?.stop();
        await Promise.all(apps.map((app) => app.close()));
        throw error;
      }
      return baseUrl(apps[0] as FastifyInstance);
    },
    async close() {
      // The sessions' last keychain writes and revocations, before the clients go.
      await broker.stop();
      // A command that never listened (credential-process) never loaded fastify.
      await building?.catch(() => undefined);
      await containerListeners?.stop();
      await Promise.all(apps.map((app) => app.close()));
      for (const c of clients) c.clients.destroy();
    },
  };
}

/**
 * How long listen() waits for each session's first request to begin, at most: a keychain that
 * asks the user first (a locked one) must not keep the daemon from listening.
 */
export const FIRST_REQUESTS_WAIT_MS = 100;
/** Then for the requests to be written, at most: a DNS lookup, a TCP and a TLS handshake with a Cognito far away. */
export const REQUESTS_WRITTEN_WAIT_MS = 1_000;

/**
 * Each session's first request has begun (or its first refresh ended without one), and no
 * request waits to be written; each wait bounded.
 */
async function firstRequestsWritten(firstRequests: ReadonlyMap<ProfileSession, Promise<void>>, unwritten: UnwrittenRequests, waitMs: number): Promise<void> {
  await within(waitMs, Promise.all([...firstRequests].map(([session, request]) => Promise.race([request, session.firstRefresh()]))));
  await within(REQUESTS_WRITTEN_WAIT_MS, unwritten.drained());
}

/**
 * After fastify's load: a Cognito answer that came in meanwhile (a refresh's, whose round trip
 * is about as long as the load) is read and handled, and the request it sets off
 * (GetCredentialsForIdentity) written, before the app is built, so that the build and listen
 * overlap that request's round trip rather than hold it back. Two turns of the event loop:
 * the first ends the loop's current pass, the second comes after a poll for I/O, which reads
 * the answer; what its handling sends without more I/O of its own has begun by then.
 */
async function answersHandled(unwritten: UnwrittenRequests): Promise<void> {
  await new Promise(setImmediate);
  await within(REQUESTS_WRITTEN_WAIT_MS, unwritten.drained());
}

async function within(ms: number, promise: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise, waited]);
  clearTimeout(timer);
}

/** With a free port (0) on several addresses, the port the first got may be taken on another: tries again this often. */
const SAME_PORT_ATTEMPTS = 5;

/**
 * Binds server.port on every address of server.host: all of them or none. "localhost" may
 * resolve to both 127.0.0.1 and ::1, and clients try either; binding only one would leave
 * the other for another user to take, and every client that tries it would send them its
 * token.
 */
async function listenEverywhere(addresses: readonly string[], configuredPort: number, first: () => Promise<FastifyInstance>, newApp: () => Promise<FastifyInstance>, apps: FastifyInstance[]): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    let port = configuredPort;
    try {
      for (const [i, address] of addresses.entries()) {
        const app = i === 0 ? await first() : (apps[i] ?? (await newApp()));
        await listenOn(app, { host: address, port }).catch((error: unknown) => translateListenError(error, address, port));
        port = (app.server.address() as AddressInfo).port;
      }
      return;
    } catch (error) {
      const retry = configuredPort === 0 && addresses.length > 1 && attempt < SAME_PORT_ATTEMPTS && (error instanceof PortInUseError);
      if (!retry) throw error;
      await Promise.all(apps.map((app) => (app.server.listening ? new Promise((resolve) => app.server.close(resolve)) : undefined)));
    }
  }
}

/** A taken port says whose it is, when that can be told: another user's means the token may have gone to them. */
async function translateListenError(error: unknown, address: string, port: number): Promise<never> {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
  const owner = await listenerOwner(address, port);
  if (owner && owner.uid !== process.getuid?.()) throw new PortHeldByOtherUserError(address, port, describeOwner(owner));
  throw new PortInUseError(address, port);
}

/** The URL handed out: the bound IP, never a name (a client may resolve a name to an address we do not hold). */
function baseUrl(app: FastifyInstance): string {
  const { address, port } = app.server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
