import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ContainersConfig } from '../config/config.js';
import type { ListenerPolicy } from '../server/build-app.js';
import type { ContainerListenerState } from '../server/container-routes.js';
import { listenOn } from './listen-addresses.js';
import { describeOwner, listenerOwner } from './listener-owner.js';

/** How often the container address is looked for (it comes and goes with the Docker network). */
export const CONTAINER_ADDRESS_POLL_MS = 2_000;
/** RELATIVE_URI clients always call port 80 (http://169.254.170.2 + the path). */
export const RELATIVE_URI_PORT = 80;

export interface ContainerListenersDeps {
  readonly config: ContainersConfig;
  /** The loopback listener's port: containers use the same one unless server.containers.port says otherwise. */
  readonly defaultPort: number;
  /** A fresh app for one listener (a closed fastify app cannot listen again). */
  readonly newApp: (policy: ListenerPolicy) => Promise<FastifyInstance>;
  /** The container listener's policy for these Host values (build-app's containerListener). */
  readonly policyFor: (hosts: readonly string[]) => ListenerPolicy;
  readonly logger: Logger;
  /** Whether the address is on this machine now; default: a bind probe (isLocalAddress). */
  readonly isLocalAddress?: (address: string) => Promise<boolean>;
  readonly pollMs?: number;
}

/**
 * The listeners containers reach: on server.containers.address (the host's end of the
 * cognito-broker Docker network), bound when the address appears and closed when it goes,
 * looked for every CONTAINER_ADDRESS_POLL_MS, so the Docker network can be created or removed
 * while the daemon runs. Port 80 beside it for RELATIVE_URI clients when it can be had. With
 * relayPort (Docker Desktop) one listener on 127.0.0.1:relayPort instead, for the relay.
 */
export class ContainerListeners {
  readonly #deps: ContainerListenersDeps;
  readonly #isLocal: (address: string) => Promise<boolean>;
  #main: FastifyInstance | undefined;
  #relative: FastifyInstance | undefined;
  #relativeProblem: string | undefined;
  #lastProblem: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(deps: ContainerListenersDeps) {
    this.#deps = deps;
    this.#isLocal = deps.isLocalAddress ?? isLocalAddress;
  }

  /** The port containers connect to. */
  get port(): number {
    return this.#deps.config.port ?? this.#deps.defaultPort;
  }

  /** Looks once (binding if the address is there), then every pollMs. */
  async start(): Promise<void> {
    await this.check();
    if (this.#stopped) return;
    this.#timer = setInterval(() => void this.check(), this.#deps.pollMs ?? CONTAINER_ADDRESS_POLL_MS);
    this.#timer.unref();
  }

  /** One look at the address: binds or closes as it is there or not. Never two at once. */
  check(): Promise<void> {
    this.#tick = this.#tick.then(() => this.#check()).catch((error: unknown) => {
      this.#deps.logger.error({ err: { name: (error as Error).name, message: (error as Error).message } }, 'container listener: unexpected error');
    });
    return this.#tick;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#tick;
    await this.#close();
  }

  state(): ContainerListenerState {
    const { address, relativeUri, relayPort } = this.#deps.config;
    const problem = !relativeUri ? 'server.containers.relativeUri is false' : this.#relativeProblem;
    return {
      address,
      port: this.port,
      listening: this.#main !== undefined,
      relativeUri: { listening: relayPort !== undefined ? this.#main !== undefined && relativeUri : this.#relative !== undefined, ...(problem && !this.#relative ? { problem } : {}) },
      ...(relayPort !== undefined ? { relayPort } : {}),
    };
  }

  async #check(): Promise<void> {
    if (this.#stopped) return;
    const { address, relayPort } = this.#deps.config;
    const bindAddress = relayPort === undefined ? address : '127.0.0.1';
    const present = await this.#isLocal(bindAddress);
    if (present && !this.#main) await this.#open();
    else if (!present && this.#main) {
      await this.#close();
      this.#lastProblem = undefined;
      this.#deps.logger.info({ address }, 'the container address is gone: stopped listening for containers (it is bound again when it comes back)');
    }
  }

  async #open(): Promise<void> {
    const { address, relayPort, relativeUri } = this.#deps.config;
    const port = this.port;
    const direct = [`${address}:${port}`, ...(port === RELATIVE_URI_PORT ? [address] : [])];
    // Through the relay, port 80's traffic arrives here too: the Host is the container's view.
    const hosts = relayPort === undefined ? direct : [...new Set([...direct, ...(relativeUri ? [address, `${address}:${RELATIVE_URI_PORT}`] : [])])];
    const bind = relayPort === undefined ? { host: address, port } : { host: '127.0.0.1', port: relayPort };
    const main = await this.#bind(hosts, bind);
    if (typeof main === 'string') {
      if (main !== this.#lastProblem) this.#deps.logger.error({ address: bind.host, port: bind.port }, `cannot listen for containers: ${main}; trying again every ${Math.round((this.#deps.pollMs ?? CONTAINER_ADDRESS_POLL_MS) / 1000)} s`);
      this.#lastProblem = main;
      return;
    }
    this.#main = main;
    this.#lastProblem = undefined;
    this.#deps.logger.info({ address, port, ...(relayPort !== undefined ? { via: `127.0.0.1:${relayPort}` } : {}) }, 'listening for containers');
    if (relayPort !== undefined || !relativeUri || port === RELATIVE_URI_PORT) {
      if (port === RELATIVE_URI_PORT) this.#relative = main;
      return;
    }
    const relative = await this.#bind([address, `${address}:${RELATIVE_URI_PORT}`], { host: address, port: RELATIVE_URI_PORT });
    if (typeof relative === 'string') {
      this.#relativeProblem = relative;
      this.#deps.logger.info({ address }, `not serving RELATIVE_URI clients: ${relative} (docs/containers.md, "Older SDKs")`);
      return;
    }
    this.#relative = relative;
    this.#relativeProblem = undefined;
    this.#deps.logger.info({ address, port: RELATIVE_URI_PORT }, 'listening for RELATIVE_URI clients');
  }

  /** A bound app, or why it could not be bound. */
  async #bind(hosts: readonly string[], where: { host: string; port: number }): Promise<FastifyInstance | string> {
    const app = await this.#deps.newApp(this.#deps.policyFor(hosts));
    try {
      await listenOn(app, where);
      return app;
    } catch (error) {
      await app.close();
      return describeListenError(error as NodeJS.ErrnoException, where);
    }
  }

  async #close(): Promise<void> {
    const apps = [this.#main, this.#relative].filter((app): app is FastifyInstance => app !== undefined);
    this.#main = undefined;
    this.#relative = undefined;
    await Promise.all([...new Set(apps)].map((app) => app.close()));
  }
}

async function describeListenError(error: NodeJS.ErrnoException, where: { host: string; port: number }): Promise<string> {
  switch (error.code) {
    case 'EACCES':
      return `port ${where.port} needs root or CAP_NET_BIND_SERVICE`;
    case 'EADDRINUSE': {
      const owner = await listenerOwner(where.host, where.port);
      // Another user's listener there receives what containers send: their tokens.
      if (owner && owner.uid !== process.getuid?.()) return `port ${where.port} on ${where.host} is held by another user's process (${describeOwner(owner)}); containers may have sent it their tokens: revoke them (cognito-broker docker revoke --all)`;
      return `port ${where.port} on ${where.host} is in use`;
    }
    case 'EADDRNOTAVAIL':
      return `${where.host} is not an address of this machine`;
    default:
      return `${error.code ?? error.message}`;
  }
}

/**
 * Whether `address` is an address of this machine now: a bind to a free port on it works.
 * os.networkInterfaces() would miss it: it lists only interfaces that are up and running,
 * and Docker's bridge has no carrier until a container is attached, though it holds its
 * address from the moment the network is created (and binding to it works). (With the
 * net.ipv4.ip_nonlocal_bind sysctl set, any bind works: the listener is then bound from the
 * start and answers once the address exists.)
 */
export async function isLocalAddress(address: string): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen({ host: address, port: 0, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
