/**
 * The whole Cognito side on 127.0.0.1, for tests, the demo and the benchmarks:
 *
 *   cognito-local (child process)  the user pool: sign-in, refresh, JWKS
 *   identity-pool emulator          GetId / GetCredentialsForIdentity, trusting that pool
 *   STS stub                        GetCallerIdentity, only for credentials the emulator issued
 *   user-pool emulator (optional)   SRP, MFA, devices, rotation, managed login: what cognito-local
 *                                   lacks (`userPoolEmulator` option); trusted by the identity pool too
 *
 * `startLocalStack()` starts them, creates a user pool, an app client and a test user
 * through the real AWS SDK, and returns a ready cognito-broker profile. `stop()` leaves no
 * process or server behind. `npm run local-stack` (scripts/local-stack.ts) keeps one running.
 *
 * Why a child process: cognito-local keeps its state in `./.cognito` of the working
 * directory and reads PORT/HOST at load time, so one per temp dir is the clean way to run
 * several. The child also exits when our end of its stdin closes, so even a SIGKILLed test
 * leaves no cognito-local behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { stopChild, withoutTapHooks } from './children.js';
import { startIdentityPoolEmulator, type IdentityPoolEmulator, type IdentityProviderConfig } from './emulators/identity-pool-emulator.js';
import { startStsStub, type StsStub } from './emulators/sts-stub.js';
import {
  startUserPoolEmulator,
  type UserPoolClientSpec,
  type UserPoolEmulator,
  type UserPoolEmulatorOptions,
  type UserSpec,
} from './emulators/user-pool-emulator.js';
import { freePort } from './ports.js';

export interface LocalStackOptions {
  /** Default 'us-east-1'. */
  region?: string;
  /** ID and access token lifetime. Default 3600. cognito-local honours seconds (real Cognito: 5 min minimum). */
  idTokenLifetimeSeconds?: number;
  /** Default 30 days. cognito-local does not enforce refresh-token expiry. */
  refreshTokenLifetimeSeconds?: number;
  /** Lifetime of identity-pool credentials. Default 3600, as real Cognito. */
  credentialLifetimeSeconds?: number;
  /** Default 'test-user'. */
  username?: string;
  /** Default: random. */
  password?: string;
  /** Also create a user left in FORCE_CHANGE_PASSWORD (sign-in answers NEW_PASSWORD_REQUIRED). */
  newPasswordUser?: boolean;
  /** Fixed ports (0 or absent: free ones). */
  cognitoLocalPort?: number;
  identityPort?: number;
  stsPort?: number;
  /** Role the emulator gives when the token names none. */
  authenticatedRoleArn?: string;
  /** Clock of the emulator and the STS stub (cognito-local always uses the real one). */
  now?: () => number;
  /** cognito-local's output, line by line (default: dropped, kept only for startup errors). */
  onCognitoLocalOutput?: (line: string) => void;
  /**
   * Also start our user-pool emulator (testkit/emulators/user-pool-emulator.ts) with one app
   * client and one user, and register it as a provider of the identity pool. cognito-local
   * still starts and stays the stack's user pool unless `primary: true`.
   */
  userPoolEmulator?: boolean | LocalStackUserPoolEmulatorOptions;
}

export interface LocalStackUserPoolEmulatorOptions extends Omit<UserPoolEmulatorOptions, 'region' | 'now' | 'host'> {
  /** The app client (default: no secret, token lifetimes from the stack options). */
  client?: UserPoolClientSpec;
  /** The user (default: the stack's username and a random password). */
  user?: Partial<UserSpec>;
  /** Point the stack's profile, ids, user and issuer at the emulator instead of cognito-local. */
  primary?: boolean;
}

/** The user-pool emulator of a stack started with `userPoolEmulator`. */
export interface LocalStackUserPoolEmulator {
  emulator: UserPoolEmulator;
  userPoolId: string;
  clientId: string;
  clientSecret?: string;
  username: string;
  password: string;
  issuer: string;
  loginsKey: string;
  /** A cognito-broker profile that signs in to the emulator. */
  profile: LocalStackProfile;
}

/** A cognito-broker profile pointing at this stack. */
export interface LocalStackProfile {
  region: string;
  userPoolId: string;
  clientId: string;
  identityPoolId: string;
  username: string;
  endpoints: { cognitoIdp: string; cognitoIdentity: string };
}

export interface LocalStack {
  region: string;
  userPoolId: string;
  clientId: string;
  identityPoolId: string;
  username: string;
  password: string;
  /** Present with `newPasswordUser: true`. */
  newPasswordUser?: { username: string; temporaryPassword: string };
  /** The ID tokens' `iss`: `http://127.0.0.1:<port>/<userPoolId>`. */
  issuer: string;
  /** The Logins key for the identity pool: `iss` without the scheme. */
  loginsKey: string;
  cognitoIdpUrl: string;
  cognitoIdentityUrl: string;
  stsUrl: string;
  emulator: IdentityPoolEmulator;
  sts: StsStub;
  profile: LocalStackProfile;
  /** pid of the cognito-local child. */
  cognitoLocalPid: number;
  /** Present with the `userPoolEmulator` option. */
  userPoolEmulator?: LocalStackUserPoolEmulator;
  /** How long startLocalStack took. */
  startupMs: number;
  /** Creates another user with a permanent password. */
  createUser(username: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_REGION = 'us-east-1';
const COGNITO_LOCAL_READY_TIMEOUT_MS = 20_000;
const READY_POLL_INTERVAL_MS = 25;
const CHILD_EXIT_TIMEOUT_MS = 3_000;
const PORT_ATTEMPTS = 3;
const OUTPUT_TAIL_CHARS = 4_000;
// cognito-local ignores these, but the SDK will not send a request without credentials.
const DUMMY_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
// Exit when the parent's end of stdin closes: the parent died or stop() was skipped.
const EXIT_WITH_PARENT = 'data:text/javascript,process.stdin.on("end",()=>process.exit(0));process.stdin.on("error",()=>process.exit(0));process.stdin.resume();';

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const started = performance.now();
  const region = options.region ?? DEFAULT_REGION;
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };
  try {
    const cognito = await startCognitoLocal(options);
    cleanups.push(cognito.stop);
    const admin = new CognitoIdentityProviderClient({
      region,
      endpoint: cognito.url,
      credentials: DUMMY_CREDENTIALS,
      maxAttempts: 1,
    });
    cleanups.push(async () => admin.destroy());
    const pool = await createPool(admin, options);
    const issuer = `${cognito.url}/${pool.userPoolId}`;
    const loginsKey = issuer.replace(/^https?:\/\//, '');
    const userPool = options.userPoolEmulator ? await startStackUserPoolEmulator(region, options) : undefined;
    if (userPool) cleanups.push(() => userPool.emulator.close());
    const providers: Record<string, IdentityProviderConfig> = {
      [loginsKey]: { issuer, jwksUri: `${issuer}/.well-known/jwks.json`, clientIds: [pool.clientId] },
    };
    // Without a list, the emulator's provider entry trusts every client, also those created later.
    if (userPool) providers[userPool.loginsKey] = userPool.emulator.identityProvider();
    const emulator = await startIdentityPoolEmulator({
      port: options.identityPort ?? 0,
      region,
      providers,
      credentialLifetimeSeconds: options.credentialLifetimeSeconds,
      authenticatedRoleArn: options.authenticatedRoleArn,
      now: options.now,
    });
    cleanups.push(() => emulator.close());
    const sts = await startStsStub({ port: options.stsPort ?? 0, credentials: emulator, now: options.now });
    cleanups.push(() => sts.close());

    const profile: LocalStackProfile = {
      region,
      userPoolId: pool.userPoolId,
      clientId: pool.clientId,
      identityPoolId: emulator.identityPoolId,
      username: pool.username,
      endpoints: { cognitoIdp: cognito.url, cognitoIdentity: emulator.url },
    };
    const userPoolEmulator = userPool ? withIdentityPool(userPool, emulator) : undefined;
    const primary = userPoolEmulator && typeof options.userPoolEmulator === 'object' && options.userPoolEmulator.primary ? userPoolEmulator : undefined;
    const stackProfile = primary?.profile ?? profile;
    return {
      ...stackProfile,
      password: primary?.password ?? pool.password,
      ...(pool.newPasswordUser ? { newPasswordUser: pool.newPasswordUser } : {}),
      issuer: primary?.issuer ?? issuer,
      loginsKey: primary?.loginsKey ?? loginsKey,
      cognitoIdpUrl: primary?.emulator.url ?? cognito.url,
      cognitoIdentityUrl: emulator.url,
      stsUrl: sts.url,
      emulator,
      sts,
      profile: stackProfile,
      cognitoLocalPid: cognito.pid,
      ...(userPoolEmulator ? { userPoolEmulator } : {}),
      startupMs: Math.round(performance.now() - started),
      createUser: primary
        ? async (username, password) => void primary.emulator.createUser({ username, password })
        : (username, password) => createUser(admin, pool.userPoolId, username, password),
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function startStackUserPoolEmulator(region: string, options: LocalStackOptions): Promise<Omit<LocalStackUserPoolEmulator, 'profile'>> {
  const { client: clientSpec, user: userSpec, primary: _primary, ...emulatorOptions } =
    typeof options.userPoolEmulator === 'object' ? options.userPoolEmulator : ({} as LocalStackUserPoolEmulatorOptions);
  const tokenSeconds = options.idTokenLifetimeSeconds ?? 3600;
  const emulator = await startUserPoolEmulator({
    ...emulatorOptions,
    region,
    lifetimes: {
      idTokenSeconds: tokenSeconds,
      accessTokenSeconds: tokenSeconds,
      refreshTokenSeconds: options.refreshTokenLifetimeSeconds ?? 30 * 24 * 3600,
      ...emulatorOptions.lifetimes,
    },
    ...(options.now ? { now: options.now } : {}),
  });
  try {
    const client = emulator.createClient({ name: 'cognito-broker', ...clientSpec });
    const username = userSpec?.username ?? options.username ?? 'test-user';
    const password = userSpec?.password ?? options.password ?? randomPassword();
    emulator.createUser({ ...userSpec, username, password });
    return {
      emulator,
      userPoolId: emulator.userPoolId,
      clientId: client.clientId,
      ...(client.clientSecret !== undefined ? { clientSecret: client.clientSecret } : {}),
      username,
      password,
      issuer: emulator.issuer,
      loginsKey: emulator.loginsKey,
    };
  } catch (error) {
    await emulator.close();
    throw error;
  }
}

function withIdentityPool(userPool: Omit<LocalStackUserPoolEmulator, 'profile'>, identity: IdentityPoolEmulator): LocalStackUserPoolEmulator {
  return {
    ...userPool,
    profile: {
      region: userPool.emulator.region,
      userPoolId: userPool.userPoolId,
      clientId: userPool.clientId,
      identityPoolId: identity.identityPoolId,
      username: userPool.username,
      endpoints: { cognitoIdp: userPool.emulator.url, cognitoIdentity: identity.url },
    },
  };
}

interface CreatedPool {
  userPoolId: string;
  clientId: string;
  username: string;
  password: string;
  newPasswordUser?: { username: string; temporaryPassword: string };
}

async function createPool(admin: CognitoIdentityProviderClient, options: LocalStackOptions): Promise<CreatedPool> {
  const pool = await admin.send(new CreateUserPoolCommand({ PoolName: 'cognito-broker-local' }));
  const userPoolId = pool.UserPool?.Id;
  if (!userPoolId) throw new Error('cognito-local returned no user pool id');
  const tokenSeconds = options.idTokenLifetimeSeconds ?? 3600;
  const client = await admin.send(
    new CreateUserPoolClientCommand({
      UserPoolId: userPoolId,
      ClientName: 'cognito-broker',
      GenerateSecret: false,
      ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      IdTokenValidity: tokenSeconds,
      AccessTokenValidity: tokenSeconds,
      RefreshTokenValidity: options.refreshTokenLifetimeSeconds ?? 30 * 24 * 3600,
      TokenValidityUnits: { IdToken: 'seconds', AccessToken: 'seconds', RefreshToken: 'seconds' },
    }),
  );
  const clientId = client.UserPoolClient?.ClientId;
  if (!clientId) throw new Error('cognito-local returned no app client id');
  const username = options.username ?? 'test-user';
  const password = options.password ?? randomPassword();
  await createUser(admin, userPoolId, username, password);
  if (!options.newPasswordUser) return { userPoolId, clientId, username, password };
  const newPasswordUser = { username: `${username}-new`, temporaryPassword: randomPassword() };
  await admin.send(
    new AdminCreateUserCommand({
      UserPoolId: userPoolId,
      Username: newPasswordUser.username,
      TemporaryPassword: newPasswordUser.temporaryPassword,
      MessageAction: 'SUPPRESS',
    }),
  );
  return { userPoolId, clientId, username, password, newPasswordUser };
}

async function createUser(admin: CognitoIdentityProviderClient, userPoolId: string, username: string, password: string): Promise<void> {
  await admin.send(
    new AdminCreateUserCommand({
      UserPoolId: userPoolId,
      Username: username,
      TemporaryPassword: randomPassword(),
      MessageAction: 'SUPPRESS',
    }),
  );
  await admin.send(new AdminSetUserPasswordCommand({ UserPoolId: userPoolId, Username: username, Password: password, Permanent: true }));
}

function randomPassword(): string {
  // Satisfies Cognito's default policy: upper, lower, digit, symbol, 8+ characters.
  return `Pw-${randomBytes(9).toString('base64url')}-a1A`;
}

interface CognitoLocal {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startCognitoLocal(options: LocalStackOptions): Promise<CognitoLocal> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cognito-broker-local-'));
  try {
    for (let attempt = 1; ; attempt += 1) {
      const port = options.cognitoLocalPort || (await freePort());
      try {
        return await spawnCognitoLocal(dataDir, port, options.onCognitoLocalOutput);
      } catch (error) {
        // Another process may have taken the free port between our probe and the child's listen.
        if (options.cognitoLocalPort || attempt >= PORT_ATTEMPTS || !String(error).includes('EADDRINUSE')) throw error;
      }
    }
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function spawnCognitoLocal(dataDir: string, port: number, onOutput?: (line: string) => void): Promise<CognitoLocal> {
  const url = `http://127.0.0.1:${port}`;
  // The issuer must be the address clients and the emulator reach: cognito-local's default
  // is http://localhost:9229 whatever PORT says.
  await mkdir(join(dataDir, '.cognito'), { recursive: true });
  await writeFile(
    join(dataDir, '.cognito', 'config.json'),
    JSON.stringify({ UserPoolDefaults: { UsernameAttributes: [] }, TokenConfig: { IssuerDomain: url } }, null, 2),
  );
  const [command, args] = withoutTapHooks(process.execPath, ['--import', EXIT_WITH_PARENT, cognitoLocalBin()]);
  const child = spawn(command, args, {
    cwd: dataDir,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', COGNITO_LOCAL_DEVMODE: '', DEBUG: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let tail = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
    if (onOutput) for (const line of text.split('\n')) if (line.trim()) onOutput(line);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    await stopCognitoLocal(child);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(url, exited, () => tail);
  } catch (error) {
    await stopCognitoLocal(child);
    throw error;
  }
  return { url, pid: child.pid as number, stop };
}

async function waitUntilReady(url: string, exited: Promise<void>, output: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + COGNITO_LOCAL_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`cognito-local exited during startup:\n${output()}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_INTERVAL_MS));
  }
  throw new Error(`cognito-local did not answer on ${url} within ${COGNITO_LOCAL_READY_TIMEOUT_MS} ms:\n${output()}`);
}

/** Closing its stdin stops it as well (EXIT_WITH_PARENT), should the signal not reach it. */
async function stopCognitoLocal(child: ChildProcess): Promise<void> {
  child.stdin?.end();
  await stopChild(child, { timeoutMs: CHILD_EXIT_TIMEOUT_MS });
}

function cognitoLocalBin(): string {
  return createRequire(import.meta.url).resolve('cognito-local/lib/bin/start.js');
}
