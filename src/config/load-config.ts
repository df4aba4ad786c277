import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigInvalidError, ConfigNotFoundError } from '../errors.js';
import type { Config, ProfileConfig } from './config.js';
import { configSchema } from './config-schema.js';
import { platformPaths, type PlatformPaths } from './platform-paths.js';

/** A config file is a few hundred bytes; anything this large is a mistake, not a config. */
export const CONFIG_MAX_BYTES = 1024 * 1024;

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

export async function loadConfig(source: ConfigSource = {}): Promise<Config> {
  const file = resolveConfigFile(source);
  const text = await readConfigText(file);
  return parseConfig(file, text, source.paths ?? platformPaths());
}

/** Validates config text; every problem names its JSON path and what was expected. */
export function parseConfig(file: string, text: string, paths: PlatformPaths = platformPaths()): Config {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalidError(file, [{ path: '$', expected: `valid JSON (${(error as Error).message})` }]);
  }
  const result = configSchema.safeParse(withoutComments(json), { reportInput: true });
  if (!result.success) {
    throw new ConfigInvalidError(file, result.error.issues.map(describeIssue));
  }
  return freezeConfig(file, result.data, paths);
}

async function readConfigText(file: string): Promise<string> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new ConfigInvalidError(file, [{ path: '$', expected: 'a JSON file, found a directory or device' }]);
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigNotFoundError(file);
    if (error instanceof ConfigInvalidError) throw error;
    throw new ConfigInvalidError(file, [{ path: '$', expected: `a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` }]);
  }
  if (size > CONFIG_MAX_BYTES) {
    throw new ConfigInvalidError(file, [{ path: '$', expected: `a file under ${CONFIG_MAX_BYTES} bytes (it has ${size})` }]);
  }
  return readFile(file, 'utf8');
}

type ParsedConfig = z.infer<typeof configSchema>;

function freezeConfig(file: string, parsed: ParsedConfig, paths: PlatformPaths): Config {
  const profiles: Record<string, ProfileConfig> = {};
  for (const [name, profile] of Object.entries(parsed.profiles)) {
    profiles[name] = deepFreeze({ ...profile, name });
  }
  const names = Object.keys(profiles);
  const defaultProfile = parsed.defaultProfile ?? (names.includes('default') ? 'default' : (names[0] as string));
  return deepFreeze({
    file,
    stateDir: paths.stateDir,
    server: {
      host: parsed.server.host,
      port: parsed.server.port,
      tokenFile: resolve(parsed.server.tokenFile ?? join(paths.stateDir, 'endpoint-token')),
    },
    defaultProfile,
    profiles,
  });
}

/** JSON has no comments; keys that start with "//" serve instead and are ignored. */
function withoutComments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutComments);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith('//')).map(([key, inner]) => [key, withoutComments(inner)]));
}

function describeIssue(issue: z.core.$ZodIssue): { path: string; expected: string } {
  const path = jsonPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return { path, expected: `no key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (unknown; check the spelling against config.example.json)` };
    case 'invalid_key':
      return { path, expected: `a valid key: ${issue.issues.map((i) => i.message).join('; ')}` };
    case 'invalid_type':
      return { path, expected: issue.input === undefined ? `a value (required ${issue.expected})` : `${article(issue.expected)} (found ${typeName(issue.input)})` };
    default:
      return { path, expected: issue.message };
  }
}

function jsonPath(segments: readonly PropertyKey[]): string {
  return segments.reduce<string>((path, segment) => {
    if (typeof segment === 'number') return `${path}[${segment}]`;
    const key = String(segment);
    return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
  }, '$');
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
