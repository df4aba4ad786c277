import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { DockerFailedError, DockerNetworkConflictError } from '../errors.js';
import type { CliIo } from './cli-io.js';
import { packageRoot } from './package-root.js';

/** The Docker network containers join to reach the daemon, and the host bridge's name. */
export const DOCKER_NETWORK = 'cognito-broker';
/** Docker Desktop's relay: its image and container. */
export const RELAY_IMAGE = 'cognito-broker-relay:1';
export const RELAY_CONTAINER = 'cognito-broker-relay';
/** The container address every SDK accepts in a plain-http FULL_URI, and the only one RELATIVE_URI knows. */
export const DEFAULT_CONTAINER_ADDRESS = '169.254.170.2';
const DOCKER_TIMEOUT_MS = 120_000;

export interface DockerResult {
  readonly code: number;
  readonly output: string;
}

/** Runs the docker CLI (the first `docker` on PATH); ENOENT is an error that says so. */
export function docker(args: readonly string[]): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { timeout: DOCKER_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') return reject(new DockerFailedError(`docker ${args[0] ?? ''}`, 'the docker command is not on PATH'));
      resolve({ code: error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

async function dockerOrThrow(args: readonly string[]): Promise<string> {
  const result = await docker(args);
  if (result.code !== 0) throw new DockerFailedError(`docker ${args.join(' ')}`, result.output);
  return result.output;
}

/** The network's /24 and gateway for a container address: the host holds the address, or (relay) the relay container does. */
export function networkFor(address: string, relay: boolean): { subnet: string; gateway: string } {
  const prefix = address.split('.').slice(0, 3).join('.');
  const last = Number(address.split('.')[3]);
  // Through the relay the address is the relay container's, so the bridge takes another.
  const gateway = relay ? `${prefix}.${last === 1 ? 254 : 1}` : address;
  return { subnet: `${prefix}.0/24`, gateway };
}

/** What `docker setup` did, to print. */
export interface SetupOptions {
  readonly relay: boolean;
}

/**
 * Creates the cognito-broker network (a bridge on the container address's /24, the host's
 * end at the address) unless it is there already as it should be; with `relay`, builds and
 * starts the relay container at the address instead. Then server.containers in the config.
 */
export async function dockerSetup(config: Config, options: SetupOptions, io: CliIo): Promise<void> {
  const address = config.server.containers?.address ?? DEFAULT_CONTAINER_ADDRESS;
  const wanted = networkFor(address, options.relay);
  const existing = await inspectNetwork();
  if (existing === undefined) {
    await dockerOrThrow([
      'network', 'create', '--driver', 'bridge', '--subnet', wanted.subnet, '--gateway', wanted.gateway,
      // A fixed name for the host's bridge, for firewall rules (ufw allow in on cognito-broker).
      '--opt', `com.docker.network.bridge.name=${DOCKER_NETWORK}`, '--label', 'cognito-broker', DOCKER_NETWORK,
    ]);
    io.stderr(`Created the Docker network ${DOCKER_NETWORK}: ${wanted.subnet}, gateway ${wanted.gateway}${options.relay ? '' : ' (this host\'s end of the bridge)'}.\n`);
  } else if (existing.subnet !== wanted.subnet || existing.gateway !== wanted.gateway) {
    throw new DockerNetworkConflictError(DOCKER_NETWORK, `subnet ${existing.subnet ?? 'none'} and gateway ${existing.gateway ?? 'none'}`, `subnet ${wanted.subnet} and gateway ${wanted.gateway}`);
  } else {
    io.stderr(`The Docker network ${DOCKER_NETWORK} is there already (${wanted.subnet}, gateway ${wanted.gateway}).\n`);
  }
  const port = config.server.containers?.port ?? (config.server.port || 9911);
  const relayPort = config.server.containers?.relayPort ?? port + 1;
  if (options.relay) await startRelay(address, port, relayPort, config.server.containers?.relativeUri !== false, io);
  const containers = options.relay ? { address, port, relayPort } : { address };
  const changed = await editServerContainers(config.file, (current) => current ?? containers);
  if (changed) {
    io.stderr(`Added "containers": ${JSON.stringify(containers)} under "server" in ${config.file}. Restart serve to take it up (cognito-broker service install restarts the service).\n`);
  } else {
    io.stderr(`${config.file} has server.containers already: ${JSON.stringify(config.server.containers)}.\n`);
  }
}

/** Removes the relay container (if any), the network, and server.containers from the config. */
export async function dockerTeardown(config: Config, io: CliIo): Promise<void> {
  const relay = await docker(['rm', '--force', RELAY_CONTAINER]);
  if (relay.code === 0) io.stderr(`Removed the relay container ${RELAY_CONTAINER}.\n`);
  if (await inspectNetwork()) {
    await dockerOrThrow(['network', 'rm', DOCKER_NETWORK]);
    io.stderr(`Removed the Docker network ${DOCKER_NETWORK}.\n`);
  } else {
    io.stderr(`No Docker network ${DOCKER_NETWORK}.\n`);
  }
  if (await editServerContainers(config.file, () => undefined)) {
    io.stderr(`Removed server.containers from ${config.file}. Restart serve to take it up.\n`);
  }
}

async function startRelay(address: string, port: number, relayPort: number, relativeUri: boolean, io: CliIo): Promise<void> {
  await dockerOrThrow(['build', '--tag', RELAY_IMAGE, relayDirectory()]);
  await docker(['rm', '--force', RELAY_CONTAINER]);
  await dockerOrThrow([
    'run', '--detach', '--name', RELAY_CONTAINER, '--restart', 'unless-stopped',
    '--network', DOCKER_NETWORK, '--ip', address,
    // Ports below 1024 for the relay's unprivileged user (the image runs as nobody).
    '--sysctl', 'net.ipv4.ip_unprivileged_port_start=0',
    '--env', 'TARGET_HOST=host.docker.internal', '--env', `TARGET_PORT=${relayPort}`,
    '--env', `LISTEN_PORTS=${port}${relativeUri && port !== 80 ? ' 80' : ''}`,
    RELAY_IMAGE,
  ]);
  io.stderr(`Started the relay ${RELAY_CONTAINER} at ${address}: ${address}:${port}${relativeUri ? ' and :80' : ''} → host.docker.internal:${relayPort}.\n`);
}

/** The relay's Dockerfile directory in this installation (docker/relay at the package root). */
export function relayDirectory(): string {
  const root = packageRoot();
  if (root && existsSync(join(root, 'docker', 'relay', 'Dockerfile'))) return join(root, 'docker', 'relay');
  throw new DockerFailedError('docker build', 'docker/relay/Dockerfile is missing from this installation of cognito-broker');
}

async function inspectNetwork(): Promise<{ subnet?: string; gateway?: string } | undefined> {
  const result = await docker(['network', 'inspect', DOCKER_NETWORK]);
  if (result.code !== 0) {
    if (/not found|no such network/i.test(result.output)) return undefined;
    throw new DockerFailedError(`docker network inspect ${DOCKER_NETWORK}`, result.output);
  }
  const [network] = JSON.parse(result.output) as { IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] } }[];
  const ipam = network?.IPAM?.Config?.[0];
  return { ...(ipam?.Subnet ? { subnet: ipam.Subnet } : {}), ...(ipam?.Gateway ? { gateway: ipam.Gateway } : {}) };
}

/**
 * Sets or removes server.containers in the config file (the JSON is written back with two
 * spaces of indentation; "//" comment keys and the order of keys are kept). The file keeps
 * its mode and is replaced whole. Resolves with whether it changed.
 */
export async function editServerContainers(file: string, change: (current: unknown) => unknown): Promise<boolean> {
  const target = await realpath(file);
  const text = await readFile(target, 'utf8');
  const json = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text) as { server?: Record<string, unknown> };
  const server = json.server ?? {};
  const before = server.containers;
  const after = change(before);
  if (JSON.stringify(before) === JSON.stringify(after)) return false;
  if (after === undefined) delete server.containers;
  else server.containers = after;
  json.server = server;
  const mode = (await stat(target)).mode & 0o777;
  const temp = `${target}.${process.pid}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(json, null, 2)}\n`, { mode, flag: 'wx' });
    await chmod(temp, mode);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return true;
}
