import { join } from 'node:path';

/** systemd user unit name (Linux). */
export const SYSTEMD_UNIT = 'cognito-broker.service';
/** The socket unit that holds the port for it (socket activation). */
export const SYSTEMD_SOCKET = 'cognito-broker.socket';
/** launchd agent label (macOS); the plist is named after it. */
export const LAUNCHD_LABEL = 'io.cognito-broker.serve';
/** After a failure, wait this long before starting again (a taken port, Cognito away). */
export const RESTART_DELAY_S = 5;
/**
 * `serve` exits 78 for a bad or missing config: starting again cannot fix it, so systemd
 * does not restart on it (launchd has no such setting; it waits ThrottleInterval).
 */
export const CONFIG_ERROR_EXIT = 78;
const LAUNCHD_THROTTLE_S = 10;

/**
 * Variables a service must see as the shell that installed it did: where daemon.json and
 * the token file are (so `env` and `exec` find the service's daemon), which keychain entries
 * (tests and the demo use their own), the log level. Nothing secret: only these are copied.
 */
export const SERVICE_ENV_VARIABLES: readonly string[] = ['XDG_STATE_HOME', 'COGNITO_BROKER_KEYCHAIN_SERVICE', 'COGNITO_BROKER_LOG_LEVEL'];

/** What the service runs: `node <cli> serve --config <file>`, all absolute. */
export interface ServiceSpec {
  readonly nodePath: string;
  readonly cliPath: string;
  readonly configFile: string;
  readonly environment: Readonly<Record<string, string>>;
  /** Where the socket unit listens (server.host's addresses and server.port); absent without one. */
  readonly listen?: { readonly addresses: readonly string[]; readonly port: number } | undefined;
}

export interface ServicePaths {
  /** The unit file or the plist. */
  readonly file: string;
  /** Linux: the socket unit beside the service unit. */
  readonly socketFile?: string;
  /** macOS: where launchd writes serve's stderr (its log). */
  readonly logFile?: string;
}

export function servicePaths(platform: NodeJS.Platform, home: string, env: NodeJS.ProcessEnv): ServicePaths {
  if (platform === 'darwin') {
    return { file: join(home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`), logFile: join(home, 'Library', 'Logs', 'cognito-broker', 'serve.log') };
  }
  // systemd reads user units from $XDG_CONFIG_HOME/systemd/user (default ~/.config/...).
  const configHome = env.XDG_CONFIG_HOME || join(home, '.config');
  return { file: join(configHome, 'systemd', 'user', SYSTEMD_UNIT), socketFile: join(configHome, 'systemd', 'user', SYSTEMD_SOCKET) };
}

export function serviceArgv(spec: ServiceSpec): string[] {
  return [spec.nodePath, spec.cliPath, 'serve', '--config', spec.configFile];
}

export function serviceEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SERVICE_ENV_VARIABLES) {
    const value = env[name];
    if (value) out[name] = value;
  }
  return out;
}

/**
 * The systemd user unit. Logs (serve's stderr) go to the journal; stdout goes nowhere,
 * because serve prints the endpoint token there for a shell to evaluate.
 */
export function systemdUnit(spec: ServiceSpec): string {
  const env = Object.entries(spec.environment).map(([name, value]) => `Environment=${systemdQuote(`${name}=${value}`, false)}`);
  return [
    '# Written by `cognito-broker service install`; `cognito-broker service uninstall` removes it.',
    '[Unit]',
    'Description=cognito-broker: AWS credentials from Amazon Cognito on loopback',
    ...(spec.listen ? [`Requires=${SYSTEMD_SOCKET}`, `After=${SYSTEMD_SOCKET}`] : []),
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${serviceArgv(spec).map((arg) => systemdQuote(arg, true)).join(' ')}`,
    ...env,
    'Restart=on-failure',
    `RestartSec=${RESTART_DELAY_S}`,
    `RestartPreventExitStatus=${CONFIG_ERROR_EXIT}`,
    '# serve prints the endpoint token on stdout (for eval in a shell): never into the journal.',
    'StandardOutput=null',
    'StandardError=journal',
    'SyslogIdentifier=cognito-broker',
    '# A session keyring of its own, for "secretStore": "kernel" (it reaches the persistent keyring from there).',
    'KeyringMode=private',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/**
 * The socket unit: systemd binds the port and hands it to `serve` (LISTEN_FDS), and keeps it
 * bound while the service restarts or after it crashed, so there is never a moment when
 * another user can take the port and receive the tokens SDKs send to it. Connections made
 * meanwhile wait in the socket's queue until serve is back.
 */
export function systemdSocketUnit(listen: NonNullable<ServiceSpec['listen']>): string {
  const streams = listen.addresses.map((address) => `ListenStream=${address.includes(':') ? `[${address}]` : address}:${listen.port}`);
  return [
    '# Written by `cognito-broker service install`; `cognito-broker service uninstall` removes it.',
    '[Unit]',
    'Description=cognito-broker: holds the credentials port while the broker restarts',
    '',
    '[Socket]',
    ...streams,
    // [::1] only, never the IPv4 side as well: the config names each address it wants.
    'BindIPv6Only=ipv6-only',
    'NoDelay=true',
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n');
}

/** The launchd agent: starts at login (RunAtLoad), again after a failure (KeepAlive). */
export function launchdPlist(spec: ServiceSpec, logFile: string): string {
  const strings = (values: readonly string[], indent: string) => values.map((v) => `${indent}<string>${xml(v)}</string>`);
  const env = Object.entries(spec.environment).flatMap(([name, value]) => [`\t\t<key>${xml(name)}</key>`, `\t\t<string>${xml(value)}</string>`]);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<!-- Written by `cognito-broker service install`; `cognito-broker service uninstall` removes it. -->',
    '<plist version="1.0">',
    '<dict>',
    '\t<key>Label</key>',
    `\t<string>${LAUNCHD_LABEL}</string>`,
    '\t<key>ProgramArguments</key>',
    '\t<array>',
    ...strings(serviceArgv(spec), '\t\t'),
    '\t</array>',
    ...(env.length > 0 ? ['\t<key>EnvironmentVariables</key>', '\t<dict>', ...env, '\t</dict>'] : []),
    '\t<key>RunAtLoad</key>',
    '\t<true/>',
    '\t<key>KeepAlive</key>',
    '\t<dict>',
    '\t\t<key>SuccessfulExit</key>',
    '\t\t<false/>',
    '\t</dict>',
    '\t<key>ThrottleInterval</key>',
    `\t<integer>${LAUNCHD_THROTTLE_S}</integer>`,
    '\t<key>ProcessType</key>',
    '\t<string>Background</string>',
    '\t<!-- serve prints the endpoint token on stdout (for eval in a shell): never into a log file. -->',
    '\t<key>StandardOutPath</key>',
    '\t<string>/dev/null</string>',
    '\t<key>StandardErrorPath</key>',
    `\t<string>${xml(logFile)}</string>`,
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

/**
 * One word of a unit file (systemd.syntax(7), systemd.unit(7) "Specifiers"): double-quoted
 * unless plain, with `\` and `"` escaped; `%` doubled everywhere (specifiers), and `$`
 * doubled in ExecStart (variable expansion). A line break cannot be written: refused.
 */
export function systemdQuote(value: string, exec: boolean): string {
  if (/[\n\r]/.test(value)) throw new Error(`cannot put a line break in a systemd unit: ${JSON.stringify(value)}`);
  let escaped = value.replaceAll('%', '%%');
  if (exec) escaped = escaped.replaceAll('$', '$$$$');
  if (/^[\w@%+=:,./-]+$/.test(value)) return escaped;
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function xml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;');
}
