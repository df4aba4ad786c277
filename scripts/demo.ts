/**
 * `npm run demo`: cognito-broker end to end on this machine, with no AWS account.
 *
 *   1. starts the local stack (cognito-local, the identity-pool emulator, the STS stub)
 *      with 120-second lifetimes, so the broker's refreshes show in its log;
 *   2. finds a keychain: the OS keychain when it works, else (Linux without a Secret
 *      Service: containers, CI, SSH) a private gnome-keyring in a temp dir;
 *   3. runs the real CLI: `login --password-stdin`, then `serve`;
 *   4. has a real AWS SDK client, in a process that knows only serve's export lines,
 *      get credentials from the broker and make a signed STS call; reads /token;
 *   5. prints what to try in another shell, and serves until Ctrl-C.
 *
 * `--once` stops after step 5. Either way every process, keychain entry and temp file
 * the demo made is gone when it exits.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { readIdTokenClaims } from '../src/cognito/jwt-claims.js';
import { stopChild } from '../testkit/children.js';
import { INSTALL_HINT, missingSecretServiceTools, startSecretService } from '../testkit/secret-service.js';
import { startLocalStack, type LocalStack } from '../testkit/local-stack.js';

const execFileAsync = promisify(execFile);

const KEYCHAIN_SERVICE = 'cognito-broker-demo';
/** Where `login` keeps the default profile's session (SessionStore's account name). */
const SESSION_ACCOUNT = 'profile:default';
const LIFETIME_SECONDS = 120;
const CHILD_TIMEOUT_MS = 30_000;
// Long enough to type a password when the desktop asks to unlock the keyring.
const KEYCHAIN_PROBE_TIMEOUT_MS = 60_000;
const SERVE_READY_TIMEOUT_MS = 20_000;
const SERVE_STOP_TIMEOUT_MS = 5_000;
const EXIT_GRACE_MS = 1_000;

const CLI = fileURLToPath(new URL('../src/cli/bin.cjs', import.meta.url));
const KEYCHAIN_MODULE = new URL('../src/store/keychain-store.js', import.meta.url).href;
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN_VAR = 'AWS_CONTAINER_AUTHORIZATION_TOKEN';
const FULL_URI_VAR = 'AWS_CONTAINER_CREDENTIALS_FULL_URI';

/** A failure the user can act on: printed as one line, no stack trace. */
class DemoError extends Error {}

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

// --- Output -----------------------------------------------------------------------------

const styled = process.stdout.isTTY === true && !process.env.NO_COLOR;
const bold = (text: string) => (styled ? `\x1b[1m${text}\x1b[22m` : text);
const dim = (text: string) => (styled ? `\x1b[2m${text}\x1b[22m` : text);

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function heading(step: number, title: string): void {
  say();
  say(bold(`[${step}/5] ${title}`));
}

function row(label: string, value: string): void {
  say(`  ${dim(label.padEnd(18))} ${value}`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function untilThen(iso: string): string {
  return `${iso}  ${dim(`(in ${Math.round((Date.parse(iso) - Date.now()) / 1000)} s)`)}`;
}

/** AKIA…WXYZ → ****************WXYZ, as `aws configure list` shows a key. */
function mask(accessKeyId: string): string {
  return `${'*'.repeat(Math.max(0, accessKeyId.length - 4))}${accessKeyId.slice(-4)}`;
}

// --- Cleanup ----------------------------------------------------------------------------

/** What to undo, newest first. Every step runs even when an earlier one failed. */
class Cleanup {
  readonly #steps: { what: string; run: () => Promise<unknown> }[] = [];

  add(what: string, run: () => Promise<unknown>): void {
    this.#steps.push({ what, run });
  }

  /** Runs every step; returns what could not be undone. */
  async run(): Promise<string[]> {
    const failed: string[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      await step.run().catch((error: unknown) => failed.push(`${step.what}: ${messageOf(error)}`));
    }
    return failed;
  }
}

// --- Step 1: the local stack ------------------------------------------------------------

async function startStack(cleanup: Cleanup): Promise<LocalStack> {
  heading(1, 'A local Cognito: user pool, identity pool and STS on 127.0.0.1');
  const stack = await startLocalStack({ idTokenLifetimeSeconds: LIFETIME_SECONDS, credentialLifetimeSeconds: LIFETIME_SECONDS });
  cleanup.add('stop the local stack', () => stack.stop());
  row('user pool', `${stack.userPoolId}  ${dim(`cognito-local at ${stack.cognitoIdpUrl}`)}`);
  row('identity pool', `${stack.identityPoolId}  ${dim(`emulator at ${stack.cognitoIdentityUrl}`)}`);
  row('STS', `${stack.stsUrl}  ${dim('accepts only credentials the identity pool issued')}`);
  row('user', stack.username);
  row('lifetimes', `ID token ${LIFETIME_SECONDS} s, AWS credentials ${LIFETIME_SECONDS} s ${dim('(short, so you see the broker refresh them)')}`);
  row('started in', seconds(stack.startupMs));
  return stack;
}

// --- Step 2: the keychain ---------------------------------------------------------------

interface Keychain {
  /** Laid over this process's environment for login and serve (empty: the OS keychain). */
  readonly env: Readonly<Record<string, string>>;
  readonly isPrivate: boolean;
}

type ProbeResult = { ok: true } | { ok: false; detail: string; message: string };

/**
 * Runs KeychainStore in a child process with `env`. A child, not this process, because
 * @napi-rs/keyring (libdbus) binds a process to the first session bus it connects to, so
 * this process could not switch to a private Secret Service after a failed probe; and a
 * child sees the keychain exactly as login and serve will.
 */
const KEYCHAIN_CHILD = `
const [moduleUrl, service, op, ...accounts] = process.argv.slice(1);
const { KeychainStore, describeKeyringFailure } = await import(moduleUrl);
const store = new KeychainStore({ service });
try {
  if (op === 'probe') {
    const probe = 'demo-probe', value = 'probe-' + Date.now();
    await store.set(probe, value);
    const back = await store.get(probe);
    await store.delete(probe);
    if (back !== value) throw new Error('the keychain returned a different value than was stored');
  } else {
    for (const account of accounts) await store.delete(account);
  }
  process.stdout.write(JSON.stringify({ ok: true }));
} catch (error) {
  const detail = error.cause ? describeKeyringFailure(error.cause) : error.message;
  process.stdout.write(JSON.stringify({ ok: false, detail, message: error.message }));
}
`;

async function keychainChild(env: NodeJS.ProcessEnv, args: string[], timeoutMs: number): Promise<ProbeResult> {
  try {
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', KEYCHAIN_CHILD, KEYCHAIN_MODULE, KEYCHAIN_SERVICE, ...args], {
      env,
      timeout: timeoutMs,
    });
    return JSON.parse(stdout) as ProbeResult;
  } catch (error) {
    // The error's own message is "Command failed:" and the whole script; stderr says why.
    const { killed, stderr } = error as { killed?: boolean; stderr?: string };
    const detail = killed ? `no answer within ${seconds(timeoutMs)}` : lastLine(stderr ?? '') || messageOf(error);
    return { ok: false, detail, message: detail };
  }
}

/** Stores, reads back and deletes a probe entry under the demo's service. */
function probeKeychain(env: NodeJS.ProcessEnv): Promise<ProbeResult> {
  return keychainChild(env, ['probe'], KEYCHAIN_PROBE_TIMEOUT_MS);
}

async function deleteKeychainEntry(env: NodeJS.ProcessEnv): Promise<void> {
  const result = await keychainChild(env, ['delete', SESSION_ACCOUNT], CHILD_TIMEOUT_MS);
  if (!result.ok) throw new Error(result.message);
}

/**
 * The OS keychain when a probe works. Otherwise, on Linux with gnome-keyring and dbus
 * installed, a private Secret Service for the length of the demo: the point is to show
 * the broker, and a container has no keychain to show it with.
 */
async function chooseKeychain(cleanup: Cleanup): Promise<Keychain> {
  heading(2, 'Keychain: where login keeps the refresh token');
  const os = await probeKeychain(process.env);
  if (os.ok) {
    row('keychain', `the OS keychain ${dim(`(service "${KEYCHAIN_SERVICE}", removed again on exit)`)}`);
    return { env: {}, isPrivate: false };
  }
  if (process.platform !== 'linux') throw new DemoError(`no usable keychain: the OS keychain failed (${os.detail}); unlock it and run the demo again`);
  const missing = missingSecretServiceTools();
  // `missing` names the tools and the apt-get line that installs them.
  if (missing) throw new DemoError(`no usable keychain: the OS keychain failed (${os.detail}), and a private Secret Service cannot start: ${missing}`);
  say(`  No usable OS keychain here (${os.detail}): using a private Secret Service (gnome-keyring in a temp dir) for this demo.`);
  // Nobody types this password: it only encrypts a keyring that is deleted on exit.
  const secretService = await startSecretService({ password: randomBytes(18).toString('base64url') });
  cleanup.add('stop the private Secret Service', () => secretService.stop());
  const env = { ...secretService.env };
  const check = await probeKeychain({ ...process.env, ...env });
  if (!check.ok) throw new DemoError(`the private Secret Service does not work either (${check.detail}); check: ${INSTALL_HINT}`);
  row('keychain', `private gnome-keyring ${dim(`(service "${KEYCHAIN_SERVICE}", deleted on exit)`)}`);
  return { env, isPrivate: true };
}

// --- Step 3: login and serve ------------------------------------------------------------

interface Broker {
  readonly serve: ChildProcess;
  /** serve's stdout: the lines a shell evaluates. */
  readonly exportLines: string[];
  readonly exports: Readonly<Record<string, string>>;
  /** http://127.0.0.1:PORT */
  readonly baseUrl: string;
}

/** The CLI's environment: the demo's config, state dir and keychain service (and a private keyring's D-Bus session). */
function cliEnvironment(dir: string, stack: LocalStack, keychain: Keychain): NodeJS.ProcessEnv {
  const configFile = join(dir, 'config.json');
  const config = { server: { host: '127.0.0.1', port: 0 }, profiles: { default: stack.profile } };
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return {
    ...process.env,
    ...keychain.env,
    COGNITO_BROKER_CONFIG: configFile,
    COGNITO_BROKER_KEYCHAIN_SERVICE: KEYCHAIN_SERVICE,
    XDG_STATE_HOME: join(dir, 'state'),
    NODE_NO_WARNINGS: '1',
  };
}

async function login(env: NodeJS.ProcessEnv, password: string): Promise<void> {
  say(`  ${dim('$')} cognito-broker login --password-stdin   ${dim('(the password goes in on stdin, never in argv)')}`);
  const child = spawn(process.execPath, [CLI, 'login', '--password-stdin'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  child.stdin.end(`${password}\n`);
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new DemoError(`login failed (exit ${code}): ${lastLine(output)}`);
  say(`  ${lastLine(output)}`);
}

/**
 * Serve runs in its own process group (detached), so a Ctrl-C at the terminal reaches the
 * demo only and the demo stops serve in order. The --import hook makes serve stop itself
 * (SIGTERM, its normal shutdown) when its stdin, our pipe, closes: if the demo is killed
 * outright, serve does not outlive it. unref(): the open pipe must not keep serve's event
 * loop alive once serve has shut down.
 */
const STOP_WITH_PARENT =
  'data:text/javascript,const stop=()=>process.kill(process.pid,"SIGTERM");process.stdin.on("end",stop);process.stdin.on("error",stop);process.stdin.resume();process.stdin.unref();';

async function startServe(env: NodeJS.ProcessEnv, cleanup: Cleanup): Promise<Broker> {
  say(`  ${dim('$')} cognito-broker serve   ${dim('(its log, on stderr, follows as it comes)')}`);
  const serve = spawn(process.execPath, ['--import', STOP_WITH_PARENT, CLI, 'serve'], {
    env,
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  cleanup.add('stop serve', () => stopChild(serve, { timeoutMs: SERVE_STOP_TIMEOUT_MS }));
  const stdout = await readUntil(serve, /^export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=.*$/m, SERVE_READY_TIMEOUT_MS);
  const exportLines = stdout.split('\n').filter((line) => /^(export|unset) /.test(line));
  const exports = Object.fromEntries(
    exportLines.flatMap((line) => {
      const match = /^export (\w+)=(.*)$/.exec(line);
      return match ? [[match[1] as string, unquote(match[2] as string)]] : [];
    }),
  );
  const fullUri = exports[FULL_URI_VAR];
  const tokenFile = exports[`${TOKEN_VAR}_FILE`];
  if (!fullUri || !tokenFile) throw new DemoError(`serve printed no ${FULL_URI_VAR} and ${TOKEN_VAR}_FILE`);
  // serve prints the token's value only to a terminal; here its stdout is a pipe.
  exports[TOKEN_VAR] ??= readFileSync(tokenFile, 'utf8');
  return { serve, exportLines, exports, baseUrl: new URL(fullUri).origin };
}

/** serve's stdout up to the first match of `pattern`; fails when serve exits or time runs out. */
function readUntil(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new DemoError(`serve did not start within ${seconds(timeoutMs)}`)), timeoutMs);
    child.stdout?.on('data', (data: Buffer) => {
      text += data.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new DemoError(`serve exited (${signal ?? code}) before it was ready; its log is above`));
    });
  });
}

// --- Step 4: a real SDK client ----------------------------------------------------------

/**
 * What a user's program does: the SDK's default chain finds the container-credentials
 * variables and fetches from the broker; the STS call is signed with what it got, and the
 * stub verifies the signature against the credentials the identity pool issued.
 */
const SDK_CLIENT = `
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
const [region, endpoint] = process.argv.slice(1);
const provider = fromNodeProviderChain();
const credentials = await provider();
const sts = new STSClient({ region, endpoint, credentials: provider, maxAttempts: 1 });
const { Arn } = await sts.send(new GetCallerIdentityCommand({}));
process.stdout.write(JSON.stringify({ arn: Arn, accessKeyId: credentials.accessKeyId, expiration: credentials.expiration?.toISOString() }));
`;

interface SdkReport {
  arn: string;
  accessKeyId: string;
  expiration?: string;
}

async function runSdkClient(dir: string, broker: Broker, stack: LocalStack): Promise<void> {
  heading(4, 'A real AWS SDK client gets credentials through the broker');
  say(`  ${dim('fromNodeProviderChain() + STS GetCallerIdentity, in a process that has only the export lines')}`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...broker.exports,
    // No ~/.aws files: a [default] profile there would come before the container
    // credentials in the chain, and the demo would show the wrong thing.
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    NODE_NO_WARNINGS: '1',
  };
  let report: SdkReport;
  try {
    // cwd: the repo, where the module script finds @aws-sdk/* in node_modules.
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', SDK_CLIENT, stack.region, stack.stsUrl], {
      cwd: REPO,
      env,
      timeout: CHILD_TIMEOUT_MS,
    });
    report = JSON.parse(stdout) as SdkReport;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    const hint = /ERR_MODULE_NOT_FOUND/.test(stderr) ? ' (the AWS SDK is a dev dependency: run npm ci)' : '';
    throw new DemoError(`the SDK client failed: ${lastLine(stderr) || messageOf(error)}${hint}`);
  }
  row('caller ARN', report.arn);
  row('AccessKeyId', mask(report.accessKeyId));
  if (report.expiration) row('expires', untilThen(report.expiration));
}

/** What a CLI command printed on stdout; its stderr goes to the demo's. */
async function cliOutput(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return (await execFileAsync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' })).stdout;
}

/**
 * GET /token, as a bearer-token tool would, with a token that opens it (env --with-id-token:
 * serve's own opens the credentials only); prints claims, never the token.
 */
async function showIdToken(broker: Broker, env: NodeJS.ProcessEnv): Promise<void> {
  say();
  say(`  ${dim('GET /token: the ID token for tools that want a bearer token (a token from env --with-id-token)')}`);
  const token = /^export AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)$/m.exec(await cliOutput(['env', '--with-id-token'], env))?.[1];
  if (!token) throw new DemoError('cognito-broker env --with-id-token printed no token');
  const response = await fetch(`${broker.baseUrl}/token`, { headers: { authorization: token } });
  if (!response.ok) throw new DemoError(`GET /token answered ${response.status}: ${firstLine(await response.text())}`);
  const body = (await response.json()) as { IdToken: string; Expiration: string };
  const claims = readIdTokenClaims(body.IdToken);
  row('sub', String(claims.sub));
  row('cognito:username', String(claims['cognito:username']));
  row('expires', untilThen(new Date(claims.exp * 1000).toISOString()));
}

// --- Step 5: try it yourself ------------------------------------------------------------

function showTryIt(broker: Broker, stack: LocalStack): void {
  heading(5, 'Try it yourself, in another shell');
  say(`  ${dim('# point every AWS SDK and the AWS CLI at the broker:')}`);
  for (const line of broker.exportLines) say(`  ${line}`);
  say(`  ${dim('# a signed call, with the broker\'s credentials (a [default] profile in ~/.aws would win):')}`);
  say(`  aws sts get-caller-identity --region ${stack.region} --endpoint-url ${stack.stsUrl}`);
  say(`  ${dim('# the ID token, for tools that want a bearer token (a token that opens /token too):')}`);
  say(`  eval "$(cognito-broker env --with-id-token)"; curl -H "Authorization: $${TOKEN_VAR}" ${broker.baseUrl}/token`);
}

// --- main -------------------------------------------------------------------------------

interface Signals {
  /** Resolves with the first SIGINT or SIGTERM. */
  readonly received: Promise<NodeJS.Signals>;
  /** Throws Interrupted when a signal has arrived: called between steps. */
  check(): void;
}

function watchSignals(): Signals {
  let signal: NodeJS.Signals | undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => {
    // Handled, so a signal never kills the demo before it has cleaned up; later ones are
    // ignored while cleanup runs (its every step has its own time limit).
    const handle = (s: NodeJS.Signals) => {
      if (signal) return;
      signal = s;
      resolve(s);
    };
    process.on('SIGINT', handle);
    process.on('SIGTERM', handle);
  });
  return {
    received,
    check() {
      if (signal) throw new Interrupted(signal);
    },
  };
}

/** Steps 1 to 5; everything started is registered with `cleanup`. */
async function runDemo(cleanup: Cleanup, signals: Signals): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-demo-'));
  cleanup.add('remove the temp dir', async () => rmSync(dir, { recursive: true, force: true }));

  const stack = await startStack(cleanup);
  signals.check();
  const keychain = await chooseKeychain(cleanup);
  signals.check();

  heading(3, 'Sign in, then serve');
  const env = cliEnvironment(dir, stack, keychain);
  cleanup.add('delete the demo keychain entry', () =>
    // A private keyring goes with its temp dir anyway, and its daemon may already be gone
    // (a Ctrl-C at the terminal reaches it too): only the OS keychain's entry must go.
    deleteKeychainEntry(env).catch((error: unknown) => {
      if (!keychain.isPrivate) throw error;
    }),
  );
  await login(env, stack.password);
  signals.check();
  const broker = await startServe(env, cleanup);
  row('serving at', broker.baseUrl);
  signals.check();

  await runSdkClient(dir, broker, stack);
  await showIdToken(broker, env);
  signals.check();
  showTryIt(broker, stack);
  return broker;
}

/** Until Ctrl-C (exit 0), or until serve dies on its own (an error). */
async function serveUntilStopped(broker: Broker, signals: Signals): Promise<void> {
  say();
  say(bold(`Serving. The broker renews the ${LIFETIME_SECONDS}-second tokens and credentials ahead of expiry (see its log). Ctrl-C stops everything.`));
  const serveExit = once(broker.serve, 'exit').then(([code, signal]) => `${(signal as string | null) ?? (code as number | null)}`);
  const exit = await Promise.race([signals.received.then(() => undefined), serveExit]);
  if (exit !== undefined) throw new DemoError(`serve exited on its own (${exit}); its log is above`);
}

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((arg) => arg !== '--once');
  if (unknown.length > 0) {
    process.stderr.write(`Usage: npm run demo [-- --once]   (unknown: ${unknown.join(' ')})\n`);
    return 2;
  }
  const runOnce = argv.includes('--once');
  // The SDK clients this process makes (the stack's setup) warn at length that SDK releases
  // from 2027 need Node 22; package.json supports Node 20, and the demo's output is for
  // the broker. The children run with NODE_NO_WARNINGS.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const started = performance.now();
  const signals = watchSignals();
  const cleanup = new Cleanup();
  say(bold('cognito-broker demo: sign in to a local Cognito, serve AWS credentials to a real SDK. No AWS account needed.'));

  let code = 0;
  try {
    const broker = await runDemo(cleanup, signals);
    say();
    say(dim(`Ready in ${seconds(performance.now() - started)}.`));
    if (!runOnce) await serveUntilStopped(broker, signals);
  } catch (error) {
    code = error instanceof Interrupted ? 128 + (constants.signals[error.signal] ?? 0) : 1;
    process.stderr.write(`\ndemo ${error instanceof Interrupted ? 'interrupted' : 'failed'}: ${messageOf(error)}\n`);
  }

  say();
  say(dim('Stopping everything the demo started...'));
  const failed = await cleanup.run();
  for (const what of failed) process.stderr.write(`could not ${what}\n`);
  say(dim(failed.length === 0 ? 'Everything the demo started is stopped and removed.' : 'Cleanup was incomplete (see above).'));
  return failed.length > 0 && code === 0 ? 1 : code;
}

// --- small helpers ----------------------------------------------------------------------

function messageOf(error: unknown): string {
  return firstLine(error instanceof Error ? error.message : String(error));
}

function firstLine(text: string): string {
  return text.trim().split('\n', 1)[0] ?? '';
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

/** serve quotes a value the POSIX shell way when it has to (see src/cli/shell-exports.ts). */
function unquote(value: string): string {
  return value.startsWith("'") ? value.slice(1, -1).replaceAll("'\\''", "'") : value;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Whatever still holds the event loop (a keep-alive socket) must not keep the demo
    // alive; unref'd, so a clean exit does not wait for it.
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  }, (error: unknown) => {
    process.stderr.write(`demo: unexpected error: ${messageOf(error)}\n`);
    process.exit(1);
  });
}
