import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigInvalidError, ConfigNotFoundError } from '../errors.js';
import type { Config, ProfileConfig } from './config.js';
import { configSchema } from './config-schema.js';
import { type ConfigSource, platformPaths, type PlatformPaths, resolveConfigFile } from './platform-paths.js';

/** A config file is a few hundred bytes; anything this large is a mistake, not a config. */
export const CONFIG_MAX_BYTES = 1024 * 1024;
/** A valid config nests five levels ($.profiles.NAME.oidc.endpoints.KEY); comments are not looked for deeper. */
const COMMENT_SEARCH_MAX_DEPTH = 16;
/** A file with thousands of mistakes gets the first ones and a count, not thousands of lines. */
export const CONFIG_MAX_PROBLEMS = 20;
/** Keys and values quoted in messages are cut to this many characters. */
const QUOTE_MAX_CHARS = 64;

export async function loadConfig(source: ConfigSource = {}): Promise<Config> {
  const file = resolveConfigFile(source);
  const text = await readConfigText(file);
  return parseConfig(file, text, source.paths ?? platformPaths());
}

/** Validates config text; every problem names its JSON path and what was expected. */
export function parseConfig(file: string, text: string, paths: PlatformPaths = platformPaths()): Config {
  let json: unknown;
  // Notepad and some editors start UTF-8 files with a byte-order mark; JSON.parse refuses it.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new ConfigInvalidError(file, [{ path: '$', expected: `valid JSON: ${describeJsonError(body, (error as Error).message)}` }]);
  }
  const protoKeys: string[] = [];
  const result = configSchema.safeParse(withoutComments(json, [], protoKeys), { reportInput: true });
  if (!result.success || protoKeys.length > 0) {
    // The schema never sees "__proto__" keys (objects drop them), so they are reported here.
    const problems = [...protoKeys.map((path) => ({ path, expected: 'no key "__proto__"' })), ...(result.success ? [] : result.error.issues.map(describeIssue))];
    const shown = problems.slice(0, CONFIG_MAX_PROBLEMS);
    if (problems.length > shown.length) shown.push({ path: '…', expected: `and ${problems.length - shown.length} more problems` });
    throw new ConfigInvalidError(file, shown);
  }
  return freezeConfig(file, result.data, paths);
}

/**
 * Where the JSON breaks, as line and column, and V8's reason without the excerpt of the
 * file it quotes (a binary or hostile file must not put control characters on a terminal).
 */
function describeJsonError(text: string, message: string): string {
  const at = /at position (\d+)/.exec(message);
  const position = at ? Number(at[1]) : /end of JSON input/.test(message) ? text.length : undefined;
  const reason = message.replace(/,? ".*" is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '');
  const where = position === undefined ? '' : ` at ${lineAndColumn(text, position)}`;
  return `${quoteSafely(reason, 120)}${where}`;
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/** Control characters escaped, long text cut: safe to print on a terminal. */
function quoteSafely(value: string, max = QUOTE_MAX_CHARS): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
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
  const entries = Object.entries(parsed.profiles);
  // Profiles that sign in themselves first: the schema has checked that each signInFrom names one.
  for (const [name, profile] of entries) {
    if (!('signInFrom' in profile)) profiles[name] = deepFreeze(profileConfig(name, profile));
  }
  for (const [name, profile] of entries) {
    if ('signInFrom' in profile) profiles[name] = deepFreeze(borrowingProfileConfig(name, profile, profiles[profile.signInFrom] as ProfileConfig));
  }
  // In the file's order, as before.
  for (const [name] of entries) {
    const profile = profiles[name] as ProfileConfig;
    delete profiles[name];
    profiles[name] = profile;
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
      allowNonLoopback: parsed.server.allowNonLoopback,
      ...(parsed.server.containers ? { containers: parsed.server.containers } : {}),
    },
    secretStore: parsed.secretStore,
    defaultProfile,
    notify: parsed.notify,
    profiles,
  });
}

/**
 * The schema has checked that a profile names either a user pool and app client or an
 * `oidc` provider; an OIDC profile's issuer and client id stand in for the pool and client
 * (see ProfileConfig).
 */
type OwnProfile = Exclude<ParsedConfig['profiles'][string], { signInFrom: string }>;
type BorrowingProfile = Extract<ParsedConfig['profiles'][string], { signInFrom: string }>;

/** The owner's keys, with this profile's name, role and identity pool. */
function borrowingProfileConfig(name: string, profile: BorrowingProfile, owner: ProfileConfig): ProfileConfig {
  const { customRoleArn: _ownersRole, signInFrom: _none, ...shared } = owner;
  return {
    ...shared,
    name,
    identityPoolId: profile.identityPoolId ?? owner.identityPoolId,
    ...(profile.customRoleArn !== undefined ? { customRoleArn: profile.customRoleArn } : {}),
    signInFrom: owner,
  };
}

function profileConfig(name: string, own: OwnProfile): ProfileConfig {
  const { refreshTokenLifetime, ...profile } = own;
  const { userPoolId, clientId, ...kept } = profile;
  const rest = refreshTokenLifetime === undefined ? kept : { ...kept, refreshTokenLifetimeMs: refreshTokenLifetime };
  if (profile.oidc) return { ...rest, name, userPoolId: profile.oidc.issuer, clientId: profile.oidc.clientId };
  return { ...rest, name, userPoolId: userPoolId as string, clientId: clientId as string };
}

/**
 * JSON has no comments; keys that start with "//" serve instead and are ignored. Not looked
 * for below COMMENT_SEARCH_MAX_DEPTH: a file nested 100,000 deep must get "expected an
 * object" at its path from the schema, not a stack overflow here. Collects the paths of
 * "__proto__" keys, which objects would silently drop.
 */
function withoutComments(value: unknown, path: readonly PropertyKey[], protoKeys: string[]): unknown {
  if (path.length >= COMMENT_SEARCH_MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((inner, i) => withoutComments(inner, [...path, i], protoKeys));
  const kept: [string, unknown][] = [];
  for (const [key, inner] of Object.entries(value)) {
    if (key === '__proto__') protoKeys.push(jsonPath(path));
    else if (!key.startsWith('//')) kept.push([key, withoutComments(inner, [...path, key], protoKeys)]);
  }
  return Object.fromEntries(kept);
}

function describeIssue(issue: z.core.$ZodIssue): { path: string; expected: string } {
  const path = jsonPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return { path, expected: `no key ${quoteKeys(issue.keys)} (unknown; check the spelling against config.example.json)` };
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
    return /^[A-Za-z_$][\w$]{0,63}$/.test(key) ? `${path}.${key}` : `${path}[${quoteSafely(JSON.stringify(key))}]`;
  }, '$');
}

function quoteKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 10).map((k) => quoteSafely(JSON.stringify(k)));
  return keys.length > shown.length ? `${shown.join(', ')} and ${keys.length - shown.length} more` : shown.join(', ');
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${quoteSafely(JSON.stringify(value) ?? '', 40)}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
