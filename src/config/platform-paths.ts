import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface PathEnvironment {
  readonly platform: NodeJS.Platform;
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
}

export interface PlatformPaths {
  /** Where the config file is looked for when neither --config nor COGNITO_BROKER_CONFIG is given. */
  readonly configFile: string;
  /** Where the daemon keeps its files: the endpoint's token file and the running daemon's address. */
  readonly stateDir: string;
}

const APP = 'cognito-broker';

/**
 * The platform's usual places: XDG base directories on Linux and other Unixes,
 * ~/Library/Application Support on macOS, %APPDATA% / %LOCALAPPDATA% on Windows.
 */
export function platformPaths(from: PathEnvironment = currentEnvironment()): PlatformPaths {
  const { platform, env, home } = from;
  if (platform === 'darwin') {
    const base = join(home, 'Library', 'Application Support', APP);
    return { configFile: join(base, 'config.json'), stateDir: base };
  }
  if (platform === 'win32') {
    const roaming = env.APPDATA ?? join(home, 'AppData', 'Roaming');
    const local = env.LOCALAPPDATA ?? join(home, 'AppData', 'Local');
    return { configFile: join(roaming, APP, 'config.json'), stateDir: join(local, APP) };
  }
  const config = nonEmpty(env.XDG_CONFIG_HOME) ?? join(home, '.config');
  const state = nonEmpty(env.XDG_STATE_HOME) ?? join(home, '.local', 'state');
  return { configFile: join(config, APP, 'config.json'), stateDir: join(state, APP) };
}

/**
 * The user's own cache directory for us (files that only save time, safe to delete):
 * $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows.
 */
export function cacheDir(from: PathEnvironment = currentEnvironment()): string {
  const { platform, env, home } = from;
  if (platform === 'darwin') return join(home, 'Library', 'Caches', APP);
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), APP, 'cache');
  return join(nonEmpty(env.XDG_CACHE_HOME) ?? join(home, '.cache'), APP);
}

/** Where the config comes from: --config, else COGNITO_BROKER_CONFIG, else the platform default. */
export interface ConfigSource {
  /** --config PATH */
  readonly flag?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly paths?: PlatformPaths;
}

/** Which file to read: --config beats COGNITO_BROKER_CONFIG beats the platform default. */
export function resolveConfigFile(source: ConfigSource = {}): string {
  const env = source.env ?? process.env;
  const paths = source.paths ?? platformPaths();
  const chosen = source.flag ?? (env.COGNITO_BROKER_CONFIG || undefined) ?? paths.configFile;
  return resolve(chosen);
}

function currentEnvironment(): PathEnvironment {
  return { platform: process.platform, env: process.env, home: homedir() };
}

// XDG says an empty variable counts as unset.
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
