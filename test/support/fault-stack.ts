/**
 * The local Cognito stack with every part on the test's clock, and the fault proxy in
 * front of it.
 *
 * The identity-pool emulator and the STS stub take a `now` option. cognito-local is a
 * child process on real time; left so, the ID tokens it issues would age by however far
 * a fake clock has been moved, and after a fake hour every refresh would hand back a token
 * that already looks expired. So cognito-local gets fault-clock-preload.mjs (through
 * NODE_OPTIONS, which local-stack.ts passes on to the child), and the proxy writes the
 * test clock's time to a file before forwarding each user-pool request.
 *
 * NODE_OPTIONS is this process's environment while startFaultStack runs: start no other
 * local stack (or node child) until it has resolved.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../testkit/local-stack.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../testkit/fault-proxy.js';
import { repoPath } from './paths.js';

const PRELOAD = pathToFileURL(repoPath('test/support/fault-clock-preload.mjs')).href;
export const CLOCK_FILE_ENV = 'COGNITO_BROKER_FAULT_CLOCK_FILE';

export interface TimeSource {
  now(): number;
}

export interface FaultStack {
  readonly stack: LocalStack;
  /** The clock every part follows; switch it between tests with `use`. */
  readonly clock: TimeSource;
  use(clock: TimeSource): void;
  /** A new fault proxy in front of this stack, on the current clock. */
  startProxy(onRequest?: (request: ProxiedRequest) => void): Promise<FaultProxy>;
  stop(): Promise<void>;
}

export async function startFaultStack(options: Omit<LocalStackOptions, 'now'> = {}): Promise<FaultStack> {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-fault-clock-'));
  const clockFile = join(dir, 'now');
  let clock: TimeSource = { now: () => Date.now() };
  const syncUserPoolClock = () => writeFileSync(clockFile, String(clock.now()));

  const saved = { options: process.env.NODE_OPTIONS, file: process.env[CLOCK_FILE_ENV] };
  process.env.NODE_OPTIONS = `${saved.options ?? ''} "--import=${PRELOAD}"`.trim();
  process.env[CLOCK_FILE_ENV] = clockFile;
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ ...options, now: () => clock.now() });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    restoreEnv('NODE_OPTIONS', saved.options);
    restoreEnv(CLOCK_FILE_ENV, saved.file);
  }

  return {
    stack,
    get clock() {
      return clock;
    },
    use(next) {
      clock = next;
    },
    startProxy(onRequest) {
      return startFaultProxy({
        userPoolUrl: stack.cognitoIdpUrl,
        identityPoolUrl: stack.cognitoIdentityUrl,
        now: () => clock.now(),
        onRequest(request) {
          if (request.pool === 'user-pool') syncUserPoolClock();
          onRequest?.(request);
        },
      });
    },
    async stop() {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
