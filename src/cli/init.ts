import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { openSecretStore } from '../app/open-secret-store.js';
import { checkCognitoIds, type IdCheck, type IdField } from '../cognito/check-ids.js';
import { profileSchema, SECRET_STORES, hostedUiSchema } from '../config/config-schema.js';
import type { Config } from '../config/config.js';
import { parseConfig } from '../config/load-config.js';
import { platformPaths, resolveConfigFile } from '../config/platform-paths.js';
import { ConfigExistsError, ConfigInvalidError, InitCheckFailedError, UsageError } from '../errors.js';
import { writePrivateFile } from '../store/atomic-file.js';
import { type CliIo, processIo } from './cli-io.js';
import { askText, isInteractive } from './prompt.js';

export const INIT_HELP = `Usage: cognito-broker init [--profile P] [--region R] [--user-pool-id ID] [--client-id ID]
                          [--identity-pool-id ID] [--username U] [--hosted-ui-domain URL]
                          [--redirect-port N] [--port N] [--secret-store keychain|kernel|file]
                          [--cognito-idp-endpoint URL] [--cognito-identity-endpoint URL]
                          [--config PATH] [--force] [--no-check]

Writes the config file: one profile naming your user pool, app client and identity pool.
At a terminal it asks for what the flags do not give (region, user pool id, app client id,
identity pool id, and optionally the username and the managed login domain); with the
flags it asks nothing, and without a terminal every required flag must be given.

Each value is checked for its format, then each id with Cognito, without AWS credentials
and without signing anyone in: the user pool's public OpenID configuration and signing
keys, the app client (a refresh with a token that is not one) and the identity pool (GetId
with a login that is not one). An id Cognito does not know is named and nothing is
written (BRK_ERR_INIT_CHECK_FAILED). A check that cannot run (offline, a proxy) is reported
as a warning and the file is written anyway.

  --profile P            the profile's name (default: "default")
  --region R             AWS region of both pools, e.g. eu-west-1
  --user-pool-id ID      e.g. eu-west-1_AbCdEf123
  --client-id ID         the user pool's app client id
  --identity-pool-id ID  e.g. eu-west-1:1b2c3d4e-...
  --username U           who 'login' signs in as (optional; else asked at login)
  --hosted-ui-domain URL the managed login domain, for 'login --browser' (optional), e.g.
                         https://my-prefix.auth.eu-west-1.amazoncognito.com
  --redirect-port N      its fixed redirect port (default 53682); register
                         http://127.0.0.1:N/callback as a callback URL of the app client
  --port N               the broker's port (default 9911)
  --secret-store S       where secrets are kept: keychain (the OS keychain, default), kernel
                         (the Linux kernel keyring, until reboot) or file (a 0600 file under
                         the state directory): for machines without a keychain
  --cognito-idp-endpoint URL, --cognito-identity-endpoint URL
                         other endpoints than AWS's public ones: a VPC endpoint, or local
                         emulators (http:// only to 127.0.0.1, ::1 or localhost)
  --config PATH          where to write (default: COGNITO_BROKER_CONFIG, else the
                         platform's config dir)
  --force                the file exists: add the profile to it (replacing a profile of
                         that name; --port and --secret-store replace theirs), keeping the rest
  --no-check             do not ask Cognito; check formats only

The file is written with mode 0600. It holds no secret: tokens and client secrets go to the
secret store at login.`;

/** The fixed port the managed login redirects to, as in config.example.json. */
const DEFAULT_REDIRECT_PORT = 53682;

/** What the profile is made of: each flag, its JSON key, and how it is asked. */
interface Question {
  readonly flag: string;
  readonly key: 'region' | 'userPoolId' | 'clientId' | 'identityPoolId' | 'username' | 'domain';
  readonly message: string;
  readonly optional: boolean;
}

const QUESTIONS: readonly Question[] = [
  { flag: 'region', key: 'region', message: 'AWS region (e.g. eu-west-1):', optional: false },
  { flag: 'user-pool-id', key: 'userPoolId', message: 'User pool id (e.g. eu-west-1_AbCdEf123):', optional: false },
  { flag: 'client-id', key: 'clientId', message: 'App client id:', optional: false },
  { flag: 'identity-pool-id', key: 'identityPoolId', message: 'Identity pool id (e.g. eu-west-1:1b2c3d4e-...):', optional: false },
  { flag: 'username', key: 'username', message: 'Username to sign in as (optional, Enter to ask at login):', optional: true },
  { flag: 'hosted-ui-domain', key: 'domain', message: 'Managed login domain for login --browser (optional, Enter to skip):', optional: true },
];

type Answers = Partial<Record<Question['key'], string>>;

const OPTIONS = {
  profile: { type: 'string' },
  region: { type: 'string' },
  'user-pool-id': { type: 'string' },
  'client-id': { type: 'string' },
  'identity-pool-id': { type: 'string' },
  username: { type: 'string' },
  'hosted-ui-domain': { type: 'string' },
  'redirect-port': { type: 'string' },
  port: { type: 'string' },
  'secret-store': { type: 'string' },
  'cognito-idp-endpoint': { type: 'string' },
  'cognito-identity-endpoint': { type: 'string' },
  config: { type: 'string' },
  force: { type: 'boolean' },
  'no-check': { type: 'boolean' },
} as const;

type InitFlags = { readonly [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export async function init(argv: string[], io: CliIo = processIo, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const name = values.profile ?? 'default';
  const file = resolveConfigFile({ flag: values.config, env });
  // Before any question: an existing file is not written over without --force.
  const existing = await readExisting(file);
  if (existing && !values.force) throw new ConfigExistsError(file, name);

  checkFlagFormats(values);
  const answers = await collectAnswers(values);
  const candidate = buildConfig(existing?.json ?? {}, name, answers, values);
  const config = validate(file, candidate);
  // Opened before writing: a store this platform lacks (the kernel keyring off Linux) is a config error now, not after.
  const store = openSecretStore(config, env);

  const checks = values['no-check'] ? [] : await checkIds(config, name);
  const unknown = checks.filter((c) => c.outcome === 'unknown');
  if (unknown.length > 0) throw new InitCheckFailedError(file, unknown.map((c) => `${FLAG_OF[c.field]} ${answers[c.field]}: ${c.detail}`));

  await writePrivateFile(file, `${JSON.stringify(candidate, null, 2)}\n`);
  io.stderr(nextSteps(config, name, file, { checks, noCheck: values['no-check'] === true, storeDescription: store.description }, env));
}

const FLAG_OF: Readonly<Record<IdField, string>> = { userPoolId: '--user-pool-id', clientId: '--client-id', identityPoolId: '--identity-pool-id' };

/** The file's JSON when it exists; a file that is not a JSON object cannot take a profile. */
async function readExisting(file: string): Promise<{ json: Record<string, unknown> } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigInvalidError(file, [{ path: '$', expected: `a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    json = undefined;
  }
  if (!isObject(json)) throw new ConfigInvalidError(file, [{ path: '$', expected: 'a JSON object to add the profile to (fix or remove the file, then run init again)' }]);
  return { json };
}

/** Flags are checked before any question, so a typo is not found after five answers. */
function checkFlagFormats(values: InitFlags): void {
  const problems: string[] = [];
  for (const q of QUESTIONS) {
    const value = values[q.flag as keyof InitFlags];
    if (typeof value !== 'string') continue;
    const wrong = formatProblem(q.key, value, regionToMatch(q.key, values));
    if (wrong) problems.push(`--${q.flag}: ${wrong}`);
  }
  if (values['secret-store'] !== undefined && !(SECRET_STORES as readonly string[]).includes(values['secret-store'])) {
    problems.push(`--secret-store: ${SECRET_STORES.join(', ')}, not ${JSON.stringify(values['secret-store'])}`);
  }
  for (const flag of ['port', 'redirect-port'] as const) {
    const value = values[flag];
    if (value !== undefined && (!/^\d{1,5}$/.test(value) || Number(value) > 65535 || (flag === 'redirect-port' && Number(value) === 0))) problems.push(`--${flag}: a TCP port, ${flag === 'port' ? 0 : 1}-65535`);
  }
  if (problems.length > 0) throw new UsageError(problems.join('; '));
}

/**
 * The region a pool id must start with: AWS's ids do (eu-west-1_…, eu-west-1:…); an
 * emulator's or another endpoint's may not (cognito-local's are local_…).
 */
function regionToMatch(key: Question['key'], values: InitFlags, region = values.region): string | undefined {
  if (key === 'userPoolId' && values['cognito-idp-endpoint'] === undefined) return region;
  if (key === 'identityPoolId' && values['cognito-identity-endpoint'] === undefined) return region;
  return undefined;
}

/**
 * What is wrong with one value, by the config schema's own rule and message; a pool id must
 * also be of `region` when one is given.
 */
function formatProblem(key: Question['key'], value: string, region: string | undefined): string | undefined {
  const schema = key === 'domain' ? hostedUiSchema.shape.domain : profileSchema.shape[key];
  const result = schema.safeParse(value);
  if (!result.success) return result.error.issues[0]?.message ?? 'not valid';
  if (region) {
    const prefix = value.slice(0, value.search(/[_:]/));
    if (prefix !== region) return `the id is of region ${prefix}, not ${region} (--region)`;
  }
  return undefined;
}

/** The flags' values; at a terminal, the answers to what they leave out. */
async function collectAnswers(values: InitFlags): Promise<Answers> {
  const answers: Answers = {};
  for (const q of QUESTIONS) {
    const value = values[q.flag as keyof InitFlags];
    if (typeof value === 'string') answers[q.key] = value;
  }
  const missing = QUESTIONS.filter((q) => !q.optional && answers[q.key] === undefined);
  if (missing.length === 0) return answers;
  if (!isInteractive()) {
    throw new UsageError(`missing ${missing.map((q) => `--${q.flag}`).join(', ')} (without a terminal nothing can be asked; at a terminal, init asks)`);
  }
  // At a terminal: every question the flags left open, optional ones included.
  for (const q of QUESTIONS) {
    if (answers[q.key] !== undefined) continue;
    const answer = await askText(q.message, { optional: q.optional, check: (v) => formatProblem(q.key, v, regionToMatch(q.key, values, answers.region)) });
    if (answer !== '') answers[q.key] = answer;
  }
  return answers;
}

/** The existing config (or an empty one) with the profile set, and the global flags given. */
function buildConfig(base: Record<string, unknown>, name: string, answers: Answers, values: InitFlags): Record<string, unknown> {
  const profile: Record<string, unknown> = {
    region: answers.region,
    userPoolId: answers.userPoolId,
    clientId: answers.clientId,
    identityPoolId: answers.identityPoolId,
  };
  if (answers.username) profile.username = answers.username;
  if (answers.domain) profile.hostedUi = { domain: answers.domain, redirectPort: Number(values['redirect-port'] ?? DEFAULT_REDIRECT_PORT) };
  const endpoints = {
    ...(values['cognito-idp-endpoint'] ? { cognitoIdp: values['cognito-idp-endpoint'] } : {}),
    ...(values['cognito-identity-endpoint'] ? { cognitoIdentity: values['cognito-identity-endpoint'] } : {}),
  };
  if (Object.keys(endpoints).length > 0) profile.endpoints = endpoints;

  const config: Record<string, unknown> = { ...base };
  if (values['secret-store']) config.secretStore = values['secret-store'];
  if (values.port !== undefined) config.server = { ...(isObject(base.server) ? base.server : {}), port: Number(values.port) };
  config.profiles = { ...(isObject(base.profiles) ? base.profiles : {}), [name]: profile };
  return config;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The whole file as `login` will read it; its problems are named by the flags that set them. */
function validate(file: string, candidate: Record<string, unknown>): Config {
  try {
    return parseConfig(file, JSON.stringify(candidate), platformPaths());
  } catch (error) {
    if (!(error instanceof ConfigInvalidError)) throw error;
    const byFlag = error.problems.map((p) => `${flagFor(p.path)}: ${p.expected}`);
    throw new UsageError(`the config would not be valid, so nothing was written: ${byFlag.join('; ')}`);
  }
}

const PATH_FLAGS: readonly [RegExp, string][] = [
  [/\.endpoints\.cognitoIdp$/, '--cognito-idp-endpoint'],
  [/\.endpoints\.cognitoIdentity$/, '--cognito-identity-endpoint'],
  [/\.hostedUi\.domain$/, '--hosted-ui-domain'],
  [/\.hostedUi\.redirectPort$/, '--redirect-port'],
  [/^\$\.server\.port$/, '--port'],
  [/^\$\.secretStore$/, '--secret-store'],
];

function flagFor(path: string): string {
  return PATH_FLAGS.find(([pattern]) => pattern.test(path))?.[1] ?? path;
}

async function checkIds(config: Config, name: string): Promise<IdCheck[]> {
  const profile = config.profiles[name];
  if (!profile) return [];
  return checkCognitoIds({
    region: profile.region,
    userPoolId: profile.userPoolId,
    clientId: profile.clientId,
    identityPoolId: profile.identityPoolId,
    cognitoIdpEndpoint: profile.endpoints?.cognitoIdp,
    cognitoIdentityEndpoint: profile.endpoints?.cognitoIdentity,
  });
}

const CHECKED_AS: Readonly<Record<IdField, string>> = { userPoolId: 'user pool', clientId: 'app client', identityPoolId: 'identity pool' };

interface WriteReport {
  readonly checks: readonly IdCheck[];
  readonly noCheck: boolean;
  /** Where `login` will keep the refresh token, in words. */
  readonly storeDescription: string;
}

function nextSteps(config: Config, name: string, file: string, { checks, noCheck, storeDescription }: WriteReport, env: NodeJS.ProcessEnv): string {
  const lines = [`Wrote profile "${name}" to ${file} (mode 0600).`];
  if (noCheck) lines.push('Not checked with Cognito (--no-check).');
  for (const check of checks) {
    lines.push(check.outcome === 'found' ? `Checked the ${CHECKED_AS[check.field]}: ${check.detail}.` : `Warning: could not check the ${CHECKED_AS[check.field]} (${check.detail}); written unchecked.`);
  }
  // Commands name the file unless it is where they look anyway, and the profile unless it is the default.
  const configFlag = file === resolveConfigFile({ env }) ? '' : ` --config ${quote(file)}`;
  const profileFlag = name === config.defaultProfile ? '' : ` --profile ${name}`;
  const steps: [string, string][] = [
    [`cognito-broker login${configFlag}${profileFlag}`, `sign in; the refresh token goes to ${storeDescription}`],
    [`cognito-broker serve${configFlag}`, 'run the broker (in the background: cognito-broker service install)'],
    [`eval "$(cognito-broker env${configFlag}${profileFlag})"`, 'point this shell\'s AWS SDKs at it'],
  ];
  const width = Math.max(...steps.map(([command]) => command.length));
  lines.push('', 'Next steps:', ...steps.map(([command, what]) => `  ${command.padEnd(width)}  # ${what}`));
  if (config.secretStore === 'keychain' && process.platform === 'linux' && !env.DBUS_SESSION_BUS_ADDRESS) {
    lines.push('', 'No D-Bus session here, so probably no OS keychain: if login says the keychain is unavailable, run init again with --force --secret-store kernel (or file); see docs/config.md.');
  }
  return `${lines.join('\n')}\n`;
}

/** A path as a shell argument. */
function quote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
