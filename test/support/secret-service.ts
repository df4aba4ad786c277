/**
 * The private Secret Service for tests (started by testkit/secret-service.ts, which the demo
 * and the benchmarks share), and a worker process that runs KeychainStore against it.
 *
 * Why a worker process: @napi-rs/keyring (libdbus) connects to the session bus named by
 * DBUS_SESSION_BUS_ADDRESS once per process and keeps that connection, so changing the
 * variable in the test process has no effect after the first call. Each worker is a plain
 * `node` child running the worker as tsc compiled it (dist/test/support/, with the real
 * dist/src/store/keychain-store.js), with the session's environment: a TypeScript loader
 * would cost each of them seconds of CPU.
 */
import { statSync } from 'node:fs';
import { ChildGroup } from '../../testkit/children.js';
import { missingSecretServiceTools } from '../../testkit/secret-service.js';
import { WORKER_ENV, type CrashPoint, type WorkerReply, type WorkerRequest } from './secret-service-protocol.js';
import { compiledPath, repoPath } from './paths.js';

export {
  INSTALL_HINT,
  REQUIRED_TOOLS,
  missingSecretServiceTools,
  startSecretService,
  startSessionBus,
  type SecretService,
  type SessionBus,
} from '../../testkit/secret-service.js';
export type { CrashPoint } from './secret-service-protocol.js';

/**
 * What is missing for the real Secret Service tests, for their `skip`. In CI (which installs
 * gnome-keyring and dbus) a missing tool is a failure: a silent skip would hide a broken keychain.
 */
export function secretServiceToolsOrFailInCI(fail: (message: string) => void): string | undefined {
  const missing = missingSecretServiceTools();
  const inCI = /^(?!0$|false$).+/i.test(process.env.CI ?? '');
  if (missing !== undefined && inCI && process.platform === 'linux') fail(`the real Secret Service tests cannot run in CI: ${missing}`);
  return missing;
}

/** A node process running KeychainStore in a given environment (see the file comment). */
export interface KeychainWorker {
  get(account: string): Promise<string | undefined>;
  set(account: string, value: string): Promise<void>;
  delete(account: string): Promise<boolean>;
  /** Every account stored under the worker's service: heads and chunks. */
  accounts(): Promise<string[]>;
  /** The raw keychain entry under `account`, bypassing KeychainStore. */
  raw(account: string): Promise<string | undefined>;
  /**
   * Starts `set(account, value)` and kills the worker with SIGKILL when the write
   * reaches `point`, as a crash or kill -9 would. The worker is gone afterwards.
   */
  killDuringSet(account: string, value: string, point: CrashPoint): Promise<void>;
  stop(): Promise<void>;
}

/** Each call answers in milliseconds; under CI's load in at most a few seconds. */
const WORKER_CALL_TIMEOUT_MS = 30_000;

/** The failure a worker call rejects with: the error's fields, as the worker saw them. */
export interface WorkerError extends Error {
  code?: string;
  retryable?: boolean;
  causeMessage?: string;
}

/**
 * Starts a worker that uses `new KeychainStore({ service })` with `env` laid over this
 * process's environment (a value of undefined removes the variable).
 */
export async function startKeychainWorker(
  env: Readonly<Record<string, string | undefined>>,
  { service }: { service: string },
): Promise<KeychainWorker> {
  const script = compiledWorker();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: '1' };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  const children = new ChildGroup();
  const child = children.spawn(process.execPath, [script], { env: childEnv, ipc: true });

  const pending = new Map<number, { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  child.on('message', (message: WorkerReply) => {
    pending.get(message.id)?.resolve(message);
    pending.delete(message.id);
  });
  const failAll = (why: string) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`keychain worker ${why}: ${children.output(child)}`));
    pending.clear();
  };
  child.once('exit', (code, signal) => failAll(`exited (${signal ?? code})`));
  child.once('error', (error) => failAll(`failed: ${error.message}`));

  // A call that never comes back (a Secret Service that stopped answering: seen once in CI,
  // on Node 22) fails its own test with what the worker printed, instead of holding the
  // whole file until tap's timeout, which prints nothing of it.
  const request = (req: Omit<WorkerRequest, 'id' | 'service'>): Promise<WorkerReply> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`keychain worker: no answer to ${req.op} within ${WORKER_CALL_TIMEOUT_MS} ms: ${children.output(child)}`));
      }, WORKER_CALL_TIMEOUT_MS);
      const settle = <A>(fn: (arg: A) => void) => (arg: A) => {
        clearTimeout(timer);
        fn(arg);
      };
      pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      child.send({ ...req, id, service } satisfies WorkerRequest);
    });
  const call = async <T>(req: Omit<WorkerRequest, 'id' | 'service'>): Promise<T> => {
    const reply = await request(req);
    if ('error' in reply) throw Object.assign(new Error(reply.error.message), reply.error);
    if ('frozen' in reply) throw new Error('unexpected freeze');
    return reply.result as T;
  };

  await call({ op: 'ping' });
  return {
    get: (account) => call({ op: 'get', account }),
    set: (account, value) => call({ op: 'set', account, value }),
    delete: (account) => call({ op: 'delete', account }),
    accounts: () => call({ op: 'accounts' }),
    raw: (account) => call({ op: 'raw', account }),
    async killDuringSet(account, value, point) {
      const reply = await request({ op: 'set', account, value, crashAt: point });
      if (!('frozen' in reply)) throw new Error(`the write finished without reaching ${point}`);
      await children.stopAll('SIGKILL');
    },
    stop: () => children.stopAll(),
  };
}

/** The compiled worker; missing or older than its source fails loudly rather than testing old code. */
function compiledWorker(): string {
  const source = repoPath('test/support/secret-service-worker.ts');
  const compiled = compiledPath('test/support/secret-service-worker.ts');
  const built = statSync(compiled, { throwIfNoEntry: false });
  if (!built || built.mtimeMs < statSync(source).mtimeMs) {
    throw new Error(`${compiled} is missing or older than its source: run \`npx tsc\` (npm test does it)`);
  }
  return compiled;
}
