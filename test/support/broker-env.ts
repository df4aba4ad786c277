import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../testkit/local-stack.js';
import { missingSecretServiceTools, startSecretService, type SecretService } from './secret-service.js';

export const TEST_KEYCHAIN_SERVICE = 'cognito-broker-test';

/** The local Cognito stack, a private real Secret Service, and a config pointing at both. */
export interface BrokerEnv {
  readonly stack: LocalStack;
  readonly secretService: SecretService;
  readonly dir: string;
  readonly configFile: string;
  /** The environment the CLI runs in: the private keychain, config and state dirs. */
  readonly env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/**
 * Fails, rather than skips, when the Secret Service tools are missing in CI: the
 * integration tests are what shows the broker works, and CI must run them.
 */
export function requireSecretService(t: { skip: (...args: never[]) => unknown; fail: (...args: never[]) => unknown }): boolean {
  const missing = missingSecretServiceTools();
  if (!missing) return true;
  const report = (process.env.CI ? t.fail : t.skip) as (why: string) => unknown;
  report.call(t, process.env.CI ? `the real Secret Service is needed in CI: ${missing}` : `no Secret Service here: ${missing}`);
  return false;
}

/** What the CLI runs in: the private keychain, and the config and state under `dir`. */
export function cliEnv(secretService: SecretService, configFile: string, dir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    ...secretService.env,
    COGNITO_BROKER_CONFIG: configFile,
    COGNITO_BROKER_KEYCHAIN_SERVICE: TEST_KEYCHAIN_SERVICE,
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    // The compile cache too (src/cli/compile-cache.ts): each run's own, not the user's.
    XDG_CACHE_HOME: join(dir, 'cache'),
  };
}

export async function startBrokerEnv(options: LocalStackOptions & { config?: Record<string, unknown> } = {}): Promise<BrokerEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-it-'));
  const stack = await startLocalStack(options);
  let secretService: SecretService;
  try {
    secretService = await startSecretService();
  } catch (error) {
    await stack.stop();
    throw error;
  }
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, profiles: { default: stack.profile }, ...options.config }, null, 2));
  const env = cliEnv(secretService, configFile, dir);
  return {
    stack,
    secretService,
    dir,
    configFile,
    env,
    async stop() {
      await stack.stop();
      await secretService.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
