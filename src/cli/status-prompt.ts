import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { platformPaths, resolveConfigFile } from '../config/platform-paths.js';
import { PROMPT_FILE, type PromptFile, readPromptFile } from '../store/prompt-file.js';
import { type CliIo, processIo } from './cli-io.js';
import { STATUS_EXIT } from './status-exit.js';
import { isAlive, sameFile } from './announced-daemon.js';

/*
 * `status --prompt` runs in every shell prompt: it reads the file the daemon keeps and
 * nothing else. No config parsing, no keychain, no network; this module and what it imports
 * load only Node's own modules (test/cli/status-prompt.test.ts keeps it so).
 */

export const STATUS_PROMPT_HELP = `Usage: cognito-broker status --prompt [--profile P] [--config PATH]

One short line for a shell prompt, from what the running daemon last wrote (its state
directory's prompt.json): the profile and the time its sign-in has left (when the profile
sets refreshTokenLifetime; else the time the credentials served now have left), or that a
login is needed. No network, no keychain, no config parsing: about the cost of starting node.

  work 6d23h            ready; the sign-in ends in 6 days 23 hours
  work 5h12m login soon the sign-in ends soon: run cognito-broker login --profile work
  work login needed     run cognito-broker login --profile work
  work 41m retrying     Cognito is failing; credentials still valid for 41 minutes
  work starting         the daemon's first refresh is under way
  no daemon             no daemon runs (for this config)

Exit codes as 'status': 0 ready, 3 a login is needed, 4 no daemon, 5 starting or retrying.

  --profile P     this profile (default: the daemon's default profile)
  --config PATH   the config the daemon must serve (default: COGNITO_BROKER_CONFIG, else the platform's)`;

export interface PromptLine {
  readonly text: string;
  readonly exit: number;
}

export async function statusPrompt(argv: string[], io: CliIo = processIo): Promise<number> {
  const output = statusPromptOutput(argv);
  io.stdout(output.text);
  return output.exit;
}

/**
 * What `status --prompt` prints for argv (`--prompt [--profile P] [--config PATH]`), newline
 * included, and its exit code, from the daemon's prompt.json; the bin answers with it too (bin.ts).
 */
export function statusPromptOutput(argv: string[]): PromptLine {
  const { values } = parseArgs({ args: argv, options: { prompt: { type: 'boolean' }, profile: { type: 'string' }, config: { type: 'string' } }, strict: true });
  const paths = platformPaths();
  const file = readPromptFile(join(paths.stateDir, PROMPT_FILE));
  const configFile = resolveConfigFile({ flag: values.config, paths });
  const line = promptLine(file, { profile: values.profile, configFile, isAlive, sameFile }, Date.now());
  return { text: `${line.text}\n`, exit: line.exit };
}

export interface PromptLineOptions {
  readonly profile?: string | undefined;
  /** The config this shell uses: a daemon serving another is not this shell's. */
  readonly configFile: string;
  readonly isAlive: (pid: number) => boolean;
  readonly sameFile: (a: string, b: string) => boolean;
}

/** The line for the daemon's file as it stands now. */
export function promptLine(file: PromptFile | undefined, options: PromptLineOptions, now: number): PromptLine {
  const noDaemon = { text: options.profile ? `${options.profile} no daemon` : 'no daemon', exit: STATUS_EXIT.daemonNotRunning };
  if (!file || !options.isAlive(file.pid) || !options.sameFile(file.config, options.configFile)) return noDaemon;
  const name = options.profile ?? file.defaultProfile;
  const profile = Object.hasOwn(file.profiles, name) ? file.profiles[name] : undefined;
  if (!profile) return { text: `${name} not served`, exit: STATUS_EXIT.daemonNotRunning };
  const left = (iso: string | undefined) => (iso === undefined ? undefined : timeLeft(Date.parse(iso) - now));
  const shown = left(profile.signInEndsAt) ?? left(profile.credentialsExpireAt);
  switch (profile.state) {
    case 'login-required':
    case 'signed-out':
      return { text: `${name} login needed`, exit: STATUS_EXIT.loginNeeded };
    case 'ready':
    case 'refreshing-ahead':
      return { text: [name, shown, profile.endsSoon ? 'login soon' : undefined].filter(Boolean).join(' '), exit: STATUS_EXIT.ready };
    case 'degraded':
      return { text: [name, left(profile.credentialsExpireAt), 'retrying'].filter(Boolean).join(' '), exit: STATUS_EXIT.notReady };
    default:
      return { text: `${name} starting`, exit: STATUS_EXIT.notReady };
  }
}

/** "6d23h", "5h12m", "41m", "30s"; "0s" once past. */
export function timeLeft(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3_600)}h`;
}
