import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.js';
import { loginCommand, ServiceUnsupportedError, UsageError } from '../errors.js';
import { loadCliConfig } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
import { findDaemon } from './daemon-client.js';
import { packageRoot } from './package-root.js';
import { listenAddresses } from '../app/listen-addresses.js';
import {
  LAUNCHD_LABEL,
  launchdPlist,
  serviceEnvironment,
  servicePaths,
  type ServicePaths,
  type ServiceSpec,
  SYSTEMD_SOCKET,
  SYSTEMD_UNIT,
  systemdSocketUnit,
  systemdUnit,
} from './service-files.js';

export const SERVICE_HELP = `Usage: cognito-broker service install|uninstall|status [--config PATH]

Runs 'cognito-broker serve' in the background, started at login and again after a failure.
  Linux   a systemd user unit, ~/.config/systemd/user/${SYSTEMD_UNIT}, and a socket unit,
          ${SYSTEMD_SOCKET}, that holds server.port while the service restarts (socket
          activation: no moment when another user could take the port);
          logs: journalctl --user -u cognito-broker
  macOS   a launchd agent, ~/Library/LaunchAgents/${LAUNCHD_LABEL}.plist;
          logs: ~/Library/Logs/cognito-broker/serve.log
  Windows not supported here: see docs/commands.md, service (a Task Scheduler task at logon).

  install     writes the file (node, this CLI and the config as absolute paths) and enables
              and starts it (systemctl --user daemon-reload, enable, restart; launchctl
              bootstrap). When the service manager cannot be reached (no systemd user session,
              a container), it says so and prints the commands to run.
  uninstall   stops and disables it, and removes the file.
  status      the file, what the service manager says, and each profile's state from the
              running daemon. Exit code 0 when the daemon answers, 3 when it does not.

Sign-in stays interactive: the service serves "not signed in" / "login required" (503)
until you run 'cognito-broker login', and picks the new session up within 5 s, with no
restart. Nothing secret goes into the unit file, its command line or its log.

  --config PATH   config file the service uses (default: COGNITO_BROKER_CONFIG, else the
                  platform's config dir); it must be valid. Re-run install after moving it,
                  or after upgrading Node or cognito-broker to another path.`;

/** LSB's "program is not running", as `systemctl status` uses it. */
const EXIT_NOT_RUNNING = 3;
const MANAGER_TIMEOUT_MS = 15_000;

export interface CommandResult {
  /** null: it did not run (not installed) or was killed. */
  readonly code: number | null;
  readonly output: string;
}

/** Everything outside this module the command touches, so tests can use a temp home and a fake service manager. */
export interface ServiceDeps {
  readonly platform: NodeJS.Platform;
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  readonly nodePath: string;
  readonly cliPath: string;
  readonly uid: number;
  run(file: string, args: readonly string[]): Promise<CommandResult>;
}

export function defaultServiceDeps(): ServiceDeps {
  return {
    platform: process.platform,
    home: homedir(),
    env: process.env,
    nodePath: process.execPath,
    cliPath: cliBinPath(),
    uid: process.getuid?.() ?? 0,
    run: runCommand,
  };
}

export async function service(argv: string[], io: CliIo = processIo, deps: ServiceDeps = defaultServiceDeps()): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { config: { type: 'string' } }, allowPositionals: true, strict: true });
  const [action, ...extra] = positionals;
  if ((action !== 'install' && action !== 'uninstall' && action !== 'status') || extra.length > 0) {
    throw new UsageError(`service needs one of install, uninstall, status${action ? ` (not ${JSON.stringify(positionals.join(' '))})` : ''}`);
  }
  if (deps.platform !== 'linux' && deps.platform !== 'darwin') throw new ServiceUnsupportedError(deps.platform);
  const paths = servicePaths(deps.platform, deps.home, deps.env);
  if (action === 'uninstall') return uninstall(paths, deps.platform === 'darwin' ? launchd(deps, paths) : systemd(deps, existsSync(paths.socketFile ?? '')), io);
  const config = await loadCliConfig(values);
  if (action === 'install') return install(config, deps, paths, io);
  return status(config, paths, deps.platform === 'darwin' ? launchd(deps, paths) : systemd(deps, false), io);
}

// --- the two service managers -----------------------------------------------------------

interface Manager {
  readonly name: string;
  readonly logs: string;
  /** Loads the (new) file and starts the service; resolves with what failed, if anything. */
  activate(): Promise<string | undefined>;
  /** The commands to type when activate() could not run. */
  readonly activateByHand: string;
  deactivate(): Promise<string | undefined>;
  readonly deactivateByHand: string;
  /** Called after the file is removed. */
  forget(): Promise<void>;
  describe(): Promise<string>;
}

/** `socket`: the socket unit is (to be) installed beside the service. */
function systemd(deps: ServiceDeps, socket: boolean): Manager {
  const systemctl = (...args: string[]) => deps.run('systemctl', ['--user', ...args]);
  const units = socket ? [SYSTEMD_SOCKET, SYSTEMD_UNIT] : [SYSTEMD_UNIT];
  // restart, not start: a reinstall must run the new files. With a socket: the service
  // stops first (it may hold the port itself), the socket takes the port, then the service
  // starts on the socket.
  const activation: string[][] = [
    ['daemon-reload'],
    ['enable', ...units],
    ...(socket ? [['stop', SYSTEMD_UNIT], ['restart', SYSTEMD_SOCKET]] : []),
    ['restart', SYSTEMD_UNIT],
  ];
  return {
    name: 'the systemd user manager',
    logs: 'journalctl --user -u cognito-broker',
    activateByHand: activation.map((args) => `systemctl --user ${args.join(' ')}`).join(' && '),
    async activate() {
      return firstFailure(deps, activation.map((args) => ['systemctl', ['--user', ...args]]));
    },
    deactivateByHand: `systemctl --user disable --now ${[...units].reverse().join(' ')}`,
    async deactivate() {
      return firstFailure(deps, [['systemctl', ['--user', 'disable', '--now', ...[...units].reverse()]]]);
    },
    async forget() {
      await systemctl('daemon-reload');
    },
    async describe() {
      const enabled = await systemctl('is-enabled', SYSTEMD_UNIT);
      const active = await systemctl('is-active', SYSTEMD_UNIT);
      if (enabled.code === null) return `systemctl not found: ${enabled.output}`;
      return `systemd user manager: ${firstLine(enabled.output) || 'unknown'}, ${firstLine(active.output) || 'unknown'}`;
    },
  };
}

function launchd(deps: ServiceDeps, paths: ServicePaths): Manager {
  const domain = `gui/${deps.uid}`;
  return {
    name: 'launchd',
    logs: paths.logFile ?? '',
    activateByHand: `launchctl bootout ${domain}/${LAUNCHD_LABEL}; launchctl bootstrap ${domain} '${paths.file}'`,
    async activate() {
      // bootout first so a reinstall runs the new file; it fails when nothing is loaded.
      await deps.run('launchctl', ['bootout', `${domain}/${LAUNCHD_LABEL}`]);
      return firstFailure(deps, [['launchctl', ['enable', `${domain}/${LAUNCHD_LABEL}`]], ['launchctl', ['bootstrap', domain, paths.file]]]);
    },
    deactivateByHand: `launchctl bootout ${domain}/${LAUNCHD_LABEL}`,
    async deactivate() {
      const result = await deps.run('launchctl', ['bootout', `${domain}/${LAUNCHD_LABEL}`]);
      // 3 / 113: "No such process" / "Could not find service": it was not loaded.
      return result.code === 0 || result.code === 3 || result.code === 113 ? undefined : describeFailure('launchctl bootout', result);
    },
    async forget() {},
    async describe() {
      const result = await deps.run('launchctl', ['print', `${domain}/${LAUNCHD_LABEL}`]);
      if (result.code !== 0) return `launchd: not loaded${result.code === null ? ` (${result.output})` : ''}`;
      const state = /^\s*state = (.+)$/m.exec(result.output)?.[1] ?? 'loaded';
      const pid = /^\s*pid = (\d+)$/m.exec(result.output)?.[1];
      return `launchd: ${state}${pid ? `, pid ${pid}` : ''}`;
    },
  };
}

async function firstFailure(deps: ServiceDeps, commands: [string, string[]][]): Promise<string | undefined> {
  for (const [file, args] of commands) {
    const result = await deps.run(file, args);
    if (result.code !== 0) return describeFailure(`${file} ${args.join(' ')}`, result);
  }
  return undefined;
}

function describeFailure(command: string, result: CommandResult): string {
  const why = firstLine(result.output) || (result.code === null ? 'could not run it' : `exit ${result.code}`);
  return `${command}: ${why}`;
}

// --- the actions ----------------------------------------------------------------------

async function install(config: Config, deps: ServiceDeps, paths: ServicePaths, io: CliIo): Promise<number> {
  // A socket unit needs a fixed port (0 is a new free port at every start).
  const socket = deps.platform === 'linux' && paths.socketFile !== undefined && config.server.port !== 0;
  const listen = socket ? { addresses: await listenAddresses(config.server.host), port: config.server.port } : undefined;
  const spec: ServiceSpec = { nodePath: deps.nodePath, cliPath: deps.cliPath, configFile: config.file, environment: serviceEnvironment(deps.env), listen };
  const manager = deps.platform === 'darwin' ? launchd(deps, paths) : systemd(deps, socket);
  if (paths.logFile) await mkdir(dirname(paths.logFile), { recursive: true, mode: 0o700 });
  await writeServiceFile(paths.file, deps.platform === 'darwin' ? launchdPlist(spec, paths.logFile as string) : systemdUnit(spec), io);
  io.stderr(`  runs: ${deps.nodePath} ${deps.cliPath} serve --config ${config.file}\n`);
  if (listen && paths.socketFile) {
    await writeServiceFile(paths.socketFile, systemdSocketUnit(listen), io);
  } else if (deps.platform === 'linux') {
    await rm(paths.socketFile ?? '', { force: true });
    io.stderr('  no socket unit: server.port is 0 (a new free port at every start); set a fixed port so that systemd can hold it while the service restarts.\n');
  } else {
    io.stderr('  launchd restarts it within 10 s after a failure; the port is free meanwhile (launchd\'s socket hand-over needs launch_activate_socket, a C call Node cannot make).\n');
  }
  if (/[/\\]_npx[/\\]/.test(deps.cliPath)) {
    io.stderr('  warning: that CLI path is in npx\'s temporary cache, which npm may clear; install cognito-broker (npm install -g, or in a project) and run install again from there.\n');
  }

  const failure = await manager.activate();
  if (failure) {
    io.stderr(`Not started: could not reach ${manager.name} (${failure}).\nStart it yourself, in your login session:\n  ${manager.activateByHand}\n`);
  } else {
    io.stderr(`Enabled and started by ${manager.name}: it starts at login and again after a failure.\nLogs: ${manager.logs}\n`);
  }
  const names = Object.keys(config.profiles);
  const each = names.length > 1 ? ` for each profile (--profile ${names.join(', ')})` : '';
  io.stderr(`Sign-in stays interactive: until you run 'cognito-broker login'${each}, the service answers "not signed in"; it picks the sign-in up within 5 s, without a restart.\n`);
  return 0;
}

/** Not secret (paths and names only); 0644 as service files usually are. */
async function writeServiceFile(file: string, content: string, io: CliIo): Promise<void> {
  const previous = await readFile(file, 'utf8').catch(() => undefined);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content, { mode: 0o644 });
  io.stderr(`${previous === undefined ? 'Wrote' : previous === content ? 'Kept' : 'Updated'} ${file}\n`);
}

async function uninstall(paths: ServicePaths, manager: Manager, io: CliIo): Promise<number> {
  const installed = existsSync(paths.file);
  const failure = await manager.deactivate();
  await rm(paths.file, { force: true });
  if (paths.socketFile) await rm(paths.socketFile, { force: true });
  if (installed) await manager.forget();
  if (!installed) io.stderr(`Not installed: there is no ${paths.file}.\n`);
  else io.stderr(`Removed ${paths.file}.\n`);
  if (failure && installed) io.stderr(`Could not stop it through ${manager.name} (${failure}). If it still runs, stop it in your login session:\n  ${manager.deactivateByHand}\n`);
  else if (installed) io.stderr(`Stopped and disabled by ${manager.name}.\n`);
  return 0;
}

async function status(config: Config, paths: ServicePaths, manager: Manager, io: CliIo): Promise<number> {
  const lines = [`Service file: ${paths.file} (${existsSync(paths.file) ? 'installed' : 'not installed'})`, await manager.describe()];
  const found = await findDaemon(config);
  if (!found.daemon) {
    io.stdout(`${[...lines, `Daemon: not running (${found.problem.message})`].join('\n')}\n`);
    return EXIT_NOT_RUNNING;
  }
  const { daemon } = found;
  lines.push(`Daemon: pid ${daemon.info.pid} at ${daemon.url}, config ${config.file}`);
  const status = await daemon.get('/status').catch(() => undefined).finally(() => daemon.close());
  const profiles = (status?.body as { profiles?: { profile?: unknown; phase?: unknown }[] } | undefined)?.profiles ?? [];
  for (const { profile, phase } of profiles) lines.push(`  ${String(profile)}: ${describePhase(String(profile), String(phase))}`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

function describePhase(profile: string, phase: string): string {
  const login = loginCommand(profile);
  if (phase === 'signed-out') return `not signed in: run ${login}`;
  if (phase === 'login-required') return `login required: run ${login}`;
  return phase;
}

// --- defaults -----------------------------------------------------------------------------

/** The CLI's bin, by its real path (not the npm bin symlink, which may move). */
function cliBinPath(): string {
  const root = packageRoot();
  const built = root && join(root, 'dist', 'src', 'cli', 'bin.cjs');
  const path = built && existsSync(built) ? built : (process.argv[1] ?? 'cognito-broker');
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

async function runCommand(file: string, args: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: MANAGER_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      const output = `${stderr}${stdout}`.trim();
      if (!error) return resolve({ code: 0, output });
      const code = (error as { code?: unknown }).code;
      resolve({ code: typeof code === 'number' ? code : null, output: output || error.message });
    });
  });
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}
