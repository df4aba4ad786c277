import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.js';
import { ContainersNotConfiguredError, ContainerTokenNotFoundError, DaemonNotRunningError, RelativeUriUnavailableError, UsageError } from '../errors.js';
import type { ContainerListenerState } from '../server/container-routes.js';
import { masterFingerprint } from '../server/endpoint-auth.js';
import { writePrivateFile } from '../store/atomic-file.js';
import { type ContainerTokenRecord, containerTokensFile, readContainerTokens, writeContainerTokens } from '../store/container-token-registry.js';
import { readToken } from '../store/endpoint-token-file.js';
import { loadCliConfig, pickProfile } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
import { isAlive, profileUrl } from './announced-daemon.js';
import { type DaemonConnection, daemonError, findDaemon } from './daemon-client.js';
import { DOCKER_NETWORK, dockerSetup, dockerTeardown } from './docker-network.js';
import { holdWhileRunning, runCommand } from './exec.js';

export const DOCKER_HELP = `Usage: cognito-broker docker setup [--relay] | teardown
       cognito-broker docker env [--profile P] [--relative-uri] [--with-id-token] [--name NAME]
       cognito-broker docker run [--profile P] [--relative-uri] [--with-id-token] -- DOCKER-RUN-ARGS...
       cognito-broker docker ls | revoke ID... | revoke --all
  (each also takes --config PATH)

Docker containers on this machine get the broker's credentials, each with a token of its
own that opens one profile, only from containers. See docs/containers.md.

  setup      creates the Docker network ${DOCKER_NETWORK} (a bridge, 169.254.170.0/24, this
             host's end at 169.254.170.2, the address every AWS SDK accepts for a container
             endpoint) and adds "containers": {"address": "169.254.170.2"} under "server" in
             the config; then restart serve. Run again: nothing changes.
             --relay: Docker Desktop (macOS, Windows), whose containers cannot reach a host
             address: builds and starts a relay container at 169.254.170.2 that forwards to
             host.docker.internal, where the daemon listens on 127.0.0.1:relayPort.
  teardown   removes the relay container, the network and server.containers.
  env        prints an env file (KEY=VALUE lines) for docker run --env-file FILE or compose
             env_file: AWS_CONTAINER_CREDENTIALS_FULL_URI on the container address and a
             long-lived container token. It works until revoked (docker revoke ID, its id is
             on the first line) or until rotate-token; it survives daemon restarts.
               cognito-broker docker env --name web > web.env && chmod 600 web.env
  run        runs: docker run --network ${DOCKER_NETWORK} --env-file <a 0600 temp file> ARGS...
             with a token that stops working when docker run returns (with --detach it
             returns at once: use docker env for detached containers). The token is never
             on docker's command line. Exit code: docker's.
  ls         the container listener's state and the long-lived tokens (ids, profiles; no values).
  revoke     ends long-lived tokens by id (or all of them), at once.

  --profile P        the profile the token opens (default: the config's default profile)
  --relative-uri     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI instead of FULL_URI, for SDKs that
                     accept no container address in FULL_URI or know only RELATIVE_URI (older
                     Go and Ruby SDKs, AWS CLI 2.9): the path is the secret, no header. Needs
                     port 80 on the container address (root, CAP_NET_BIND_SERVICE, or --relay)
  --with-id-token    the token also opens the profile's ID token (GET .../token)
  --name NAME        a label for docker ls
  --config PATH      config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

const TOKEN_OPTIONS = {
  profile: { type: 'string' },
  config: { type: 'string' },
  'relative-uri': { type: 'boolean', default: false },
  'with-id-token': { type: 'boolean', default: false },
} as const;

export async function dockerCommand(argv: string[], io: CliIo = processIo): Promise<number | void> {
  const [action, ...rest] = argv;
  switch (action) {
    case 'setup': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string' }, relay: { type: 'boolean', default: false } }, strict: true });
      return dockerSetup(await loadCliConfig(values), { relay: values.relay }, io);
    }
    case 'teardown': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string' } }, strict: true });
      return dockerTeardown(await loadCliConfig(values), io);
    }
    case 'env':
      return dockerEnv(rest, io);
    case 'run':
      return dockerRun(rest, io);
    case 'ls':
      return dockerLs(rest, io);
    case 'revoke':
      return dockerRevoke(rest, io);
    default:
      throw new UsageError(`docker needs one of setup, teardown, env, run, ls, revoke${action ? ` (not ${JSON.stringify(action)})` : ''}`);
  }
}

/** The env file's lines for a container: FULL_URI and the token, or RELATIVE_URI whose path is the token. */
export function containerEnvLines(state: ContainerListenerState, defaultProfile: string, profile: string, token: string, relative: boolean): string[] {
  if (relative) return [`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/${token}`];
  const base = `http://${state.address}:${state.port}`;
  return [`AWS_CONTAINER_CREDENTIALS_FULL_URI=${profileUrl(base, profile, defaultProfile, 'credentials')}`, `AWS_CONTAINER_AUTHORIZATION_TOKEN=${token}`];
}

async function dockerEnv(argv: string[], io: CliIo): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { ...TOKEN_OPTIONS, name: { type: 'string' } }, strict: true });
  const relative = values['relative-uri'];
  await withContainerDaemon(values, io, relative, async ({ daemon, state, config, profile }) => {
    const answer = await daemon.call('POST', '/containers/tokens', { profile, idToken: values['with-id-token'], mode: relative ? 'relative-uri' : 'full-uri', ...(values.name !== undefined ? { name: values.name } : {}) });
    if (answer.status !== 200) throw daemonError(answer);
    const { id, token } = answer.body as { id: string; token: string };
    const label = values.name !== undefined ? ` (${values.name})` : '';
    io.stdout(`# cognito-broker container token ${id}${label} for profile "${profile}"; revoke it with: cognito-broker docker revoke ${id}\n`);
    io.stdout(`${containerEnvLines(state, config.defaultProfile, profile, token, relative).join('\n')}\n`);
  });
}

async function dockerRun(argv: string[], io: CliIo): Promise<number> {
  const dashes = argv.indexOf('--');
  const args = dashes === -1 ? [] : argv.slice(dashes + 1);
  if (args.length === 0) throw new UsageError('docker run needs docker run\'s arguments after --: cognito-broker docker run [--profile P] -- [OPTIONS] IMAGE [COMMAND]');
  const { values } = parseArgs({ args: argv.slice(0, dashes), options: TOKEN_OPTIONS, strict: true });
  const relative = values['relative-uri'];
  let code = 1;
  await withContainerDaemon(values, io, relative, async ({ daemon, state, config, profile }) => {
    const token = randomBytes(32).toString('hex');
    const release = await holdWhileRunning(daemon, profile, { token, idToken: values['with-id-token'], container: { inPath: relative } });
    const envFile = join(daemon.stateDir, `${RUN_ENV_PREFIX}${process.pid}`);
    try {
      await removeStaleEnvFiles(daemon.stateDir);
      // The token in a 0600 file that docker reads, never in its argv (visible in ps).
      await writePrivateFile(envFile, `${containerEnvLines(state, config.defaultProfile, profile, token, relative).join('\n')}\n`);
      code = await runCommand(['docker', 'run', '--network', DOCKER_NETWORK, '--env-file', envFile, ...args], process.env, io);
    } finally {
      release();
      await rm(envFile, { force: true });
    }
  });
  return code;
}

const RUN_ENV_PREFIX = 'docker-run-env-';

/** Env files of docker run processes killed before they could remove theirs (kill -9). */
async function removeStaleEnvFiles(stateDir: string): Promise<void> {
  for (const name of await readdir(stateDir).catch(() => [] as string[])) {
    const pid = Number(name.startsWith(RUN_ENV_PREFIX) ? name.slice(RUN_ENV_PREFIX.length) : NaN);
    if (Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid)) await rm(join(stateDir, name), { force: true });
  }
}

interface ContainerDaemon {
  readonly daemon: DaemonConnection;
  readonly state: ContainerListenerState;
  readonly config: Config;
  readonly profile: string;
}

/** The verified daemon of this config, which serves containers (and RELATIVE_URI clients when asked); says when it does not listen for them now. */
async function withContainerDaemon(options: { config?: string | undefined; profile?: string | undefined }, io: CliIo, relative: boolean, use: (d: ContainerDaemon) => Promise<void>): Promise<void> {
  const config = await loadCliConfig(options);
  const profile = pickProfile(config, options.profile).name;
  if (!config.server.containers) throw new ContainersNotConfiguredError();
  const lookup = await findDaemon(config, { profile });
  if (!lookup.daemon) throw lookup.problem;
  const { daemon } = lookup;
  try {
    const answer = await daemon.get('/containers');
    if (answer.status !== 200) throw daemonError(answer);
    const state = answer.body as ContainerListenerState;
    if (relative && !state.relativeUri.listening) throw new RelativeUriUnavailableError(state.address, state.relativeUri.problem ?? `the daemon does not listen on ${state.address} now`);
    if (!state.listening) {
      io.stderr(`cognito-broker: note: the daemon does not listen on ${state.address}:${state.port} now (no such address on this machine: run cognito-broker docker setup); it starts when the address appears.\n`);
    }
    await use({ daemon, state, config, profile });
  } finally {
    daemon.close();
  }
}

async function dockerLs(argv: string[], io: CliIo): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } }, strict: true });
  const config = await loadCliConfig(values);
  const lookup = await findDaemon(config);
  let records: Omit<ContainerTokenRecord, 'master'>[];
  if (lookup.daemon) {
    try {
      const answer = await lookup.daemon.get('/containers');
      if (answer.status !== 200) throw daemonError(answer);
      const state = answer.body as ContainerListenerState & { tokens: Omit<ContainerTokenRecord, 'master'>[] };
      io.stdout(`${describeListener(state)}\n`);
      records = state.tokens;
    } finally {
      lookup.daemon.close();
    }
  } else {
    if (!(lookup.problem instanceof DaemonNotRunningError)) throw lookup.problem;
    io.stdout('listener: the daemon is not running\n');
    records = await currentRecords(config);
  }
  if (records.length === 0) {
    io.stdout('no long-lived container tokens\n');
    return;
  }
  io.stdout(`${['ID', 'PROFILE', 'MODE', 'ID-TOKEN', 'CREATED', 'NAME'].join('\t')}\n`);
  for (const r of records) io.stdout(`${[r.id, r.profile, r.mode, r.idToken ? 'yes' : 'no', r.createdAt, r.name ?? ''].join('\t')}\n`);
}

function describeListener(state: ContainerListenerState): string {
  const where = `${state.address}:${state.port}${state.relayPort !== undefined ? ` (through the relay, to 127.0.0.1:${state.relayPort})` : ''}`;
  const relative = state.relativeUri.listening ? `; RELATIVE_URI on ${state.address}:80` : `; no RELATIVE_URI (${state.relativeUri.problem ?? 'port 80 not held'})`;
  return `listener: ${state.listening ? `listening on ${where}` : `not listening (no ${state.address} on this machine now)`}${state.listening ? relative : ''}`;
}

/** The records made under the current master: the others open nothing. */
async function currentRecords(config: Config): Promise<ContainerTokenRecord[]> {
  const master = readToken(config.server.tokenFile);
  if (!master) return [];
  const fingerprint = masterFingerprint(master);
  return (await readContainerTokens(containerTokensFile(config.stateDir))).filter((r) => r.master === fingerprint);
}

async function dockerRevoke(argv: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: { config: { type: 'string' }, all: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  if (values.all === (positionals.length > 0)) throw new UsageError('docker revoke takes token ids (see docker ls) or --all, not both');
  const config = await loadCliConfig(values);
  const lookup = await findDaemon(config);
  if (lookup.daemon) {
    const { daemon } = lookup;
    try {
      let ids = positionals;
      if (values.all) {
        const answer = await daemon.get('/containers');
        if (answer.status !== 200) throw daemonError(answer);
        ids = (answer.body as { tokens: { id: string }[] }).tokens.map((r) => r.id);
      }
      for (const id of ids) {
        const answer = await daemon.call('DELETE', `/containers/tokens/${encodeURIComponent(id)}`);
        if (answer.status !== 200) throw daemonError(answer);
      }
      io.stderr(`Revoked ${ids.length} container ${ids.length === 1 ? 'token' : 'tokens'}${ids.length ? `: ${ids.join(', ')}` : ''}; the daemon refuses ${ids.length === 1 ? 'it' : 'them'} from now on.\n`);
    } finally {
      daemon.close();
    }
    return;
  }
  // No daemon: the registry is edited here, and the next daemon never honours them.
  if (!(lookup.problem instanceof DaemonNotRunningError)) throw lookup.problem;
  const file = containerTokensFile(config.stateDir);
  const records = await readContainerTokens(file);
  const ids = values.all ? records.map((r) => r.id) : positionals;
  for (const id of ids) if (!records.some((r) => r.id === id)) throw new ContainerTokenNotFoundError(id);
  await writeContainerTokens(file, records.filter((r) => !ids.includes(r.id)));
  io.stderr(`Revoked ${ids.length} container ${ids.length === 1 ? 'token' : 'tokens'} in ${file} (no daemon is running).\n`);
}
