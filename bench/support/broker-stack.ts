/**
 * Everything a real `cognito-broker serve` needs, on 127.0.0.1 and in temp dirs, for the
 * benchmarks and the soak: the local Cognito stack (cognito-local, the identity-pool
 * emulator, the STS stub), a delaying and counting proxy in front of each Cognito
 * endpoint, a private Secret Service (gnome-keyring on its own D-Bus), a config, and the
 * refresh token in that keychain through the real `login`. stop() leaves nothing behind.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../testkit/local-stack.js';
import { ChildGroup, stopChild } from '../../testkit/children.js';
import { missingSecretServiceTools, startSecretService, type SecretService } from '../../testkit/secret-service.js';
import { CLI, startChild, type StartedChild } from './children.js';
import { startDelayProxy, type DelayProxy } from './delay-proxy.js';

export const BENCH_KEYCHAIN_SERVICE = 'cognito-broker-bench';

export interface BrokerStack {
  readonly stack: LocalStack;
  readonly secretService: SecretService;
  /** In front of cognito-local (InitiateAuth) and the identity-pool emulator (GetId, GetCredentialsForIdentity). */
  readonly userPoolProxy: DelayProxy;
  readonly identityPoolProxy: DelayProxy;
  readonly dir: string;
  readonly configFile: string;
  /** The environment `login` and `serve` run in. */
  readonly env: NodeJS.ProcessEnv;
  /** The CLI that `login`, `serve` and the timed commands run: this build's, or another's. */
  readonly cli: string;
  /** Sets both proxies' delay (ms per Cognito round trip). */
  setUpstreamDelay(ms: number): void;
  /** Upstream calls counted by both proxies since the last reset. */
  upstreamCalls(): Record<string, number>;
  resetUpstreamCalls(): void;
  /** Rewrites the config with a fixed server port (0: any free one). */
  setServerPort(port: number): void;
  /** The real `cognito-broker login --password-stdin`. */
  login(): Promise<void>;
  /** Spawns the real `cognito-broker serve` (this build's, or `cli`); resolves when it printed its exports. */
  serve(options?: { cpu?: number; nodeFlags?: readonly string[]; cli?: string }): Promise<ServeProcess>;
  stop(): Promise<void>;
}

export interface ServeProcess extends StartedChild {
  readonly credentialsUrl: string;
  /** The default profile's token (serve's), and the file that holds it. */
  readonly token: string;
  readonly tokenFile: string;
  stop(): Promise<number | null>;
}

export interface BrokerStackOptions extends LocalStackOptions {
  /** Initial delay of both proxies. */
  readonly upstreamDelayMs?: number;
  /** Another build's bin (dist/src/cli/bin.cjs, or main.js), to measure it (default: this build's). */
  readonly cli?: string;
}

export async function startBrokerStack(options: BrokerStackOptions = {}): Promise<BrokerStack> {
  const missing = missingSecretServiceTools();
  if (missing) throw new Error(`the benchmarks need a private Secret Service for the keychain: ${missing}`);
  const cli = options.cli ?? CLI;
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-bench-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const stack = await startLocalStack(options);
    cleanups.push(() => stack.stop());
    const userPoolProxy = await startDelayProxy(stack.cognitoIdpUrl, options.upstreamDelayMs ?? 0);
    cleanups.push(() => userPoolProxy.close());
    const identityPoolProxy = await startDelayProxy(stack.cognitoIdentityUrl, options.upstreamDelayMs ?? 0);
    cleanups.push(() => identityPoolProxy.close());
    const secretService = await startSecretService();
    cleanups.push(() => secretService.stop());
    const group = new ChildGroup();
    cleanups.push(() => group.stopAll());

    const configFile = join(dir, 'config.json');
    const writeConfig = (port: number) =>
      writeFileSync(
        configFile,
        JSON.stringify({
          server: { host: '127.0.0.1', port },
          profiles: {
            default: { ...stack.profile, endpoints: { cognitoIdp: userPoolProxy.url, cognitoIdentity: identityPoolProxy.url } },
          },
        }),
      );
    writeConfig(0);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...secretService.env,
      COGNITO_BROKER_CONFIG: configFile,
      COGNITO_BROKER_KEYCHAIN_SERVICE: BENCH_KEYCHAIN_SERVICE,
      XDG_STATE_HOME: join(dir, 'state'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      // The CLI's compile cache (src/cli/compile-cache.ts): the run's own, made by its first serve.
      XDG_CACHE_HOME: join(dir, 'cache'),
      NODE_NO_WARNINGS: '1',
    };

    return {
      stack,
      secretService,
      userPoolProxy,
      identityPoolProxy,
      dir,
      configFile,
      env,
      cli,
      setUpstreamDelay(ms) {
        userPoolProxy.delayMs = ms;
        identityPoolProxy.delayMs = ms;
      },
      upstreamCalls: () => Object.fromEntries([...userPoolProxy.calls, ...identityPoolProxy.calls]),
      resetUpstreamCalls() {
        userPoolProxy.resetCounts();
        identityPoolProxy.resetCounts();
      },
      setServerPort: writeConfig,
      login: () => login(cli, env, stack.password),
      async serve({ cpu, nodeFlags = [], cli: serveCli = cli } = {}) {
        // serve prints the token's value only to a terminal: the file it names holds it.
        const started = await startChild(group, process.execPath, [...nodeFlags, serveCli, 'serve'], { env, readyPrefix: 'export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=', ...(cpu === undefined ? {} : { cpu }) });
        const credentialsUrl = /AWS_CONTAINER_CREDENTIALS_FULL_URI=(\S+)/.exec(started.stdout)?.[1];
        if (!credentialsUrl) throw new Error(`serve printed no credentials URL: ${started.stdout}`);
        const tokenFile = unquote(started.readyLine);
        return { ...started, credentialsUrl: unquote(credentialsUrl), token: readFileSync(tokenFile, 'utf8'), tokenFile, stop: () => stopChild(started.child) };
      },
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function login(cli: string, env: NodeJS.ProcessEnv, password: string): Promise<void> {
  const child = spawn(process.execPath, [cli, 'login', '--password-stdin'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  child.stdin.end(password);
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`cognito-broker login failed (exit ${code}): ${output.trim().slice(-1000)}`);
}

function unquote(value: string): string {
  return value.startsWith("'") ? value.slice(1, -1).replaceAll("'\\''", "'") : value;
}
