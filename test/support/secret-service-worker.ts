/**
 * The child process behind startKeychainWorker (secret-service.ts): runs KeychainStore
 * in whatever Secret Service its environment names, on requests sent over the IPC
 * channel. Not a test by itself; tap's default glob runs it as one, and then it skips.
 */
import { AsyncEntry, findCredentialsAsync } from '@napi-rs/keyring';
import { createPinnedEntry, KeychainStore, type KeyringEntry } from '../../src/store/keychain-store.js';
import { WORKER_ENV, type CrashPoint, type WorkerReply, type WorkerRequest } from './secret-service-protocol.js';

const send = process.env[WORKER_ENV] === '1' ? process.send?.bind(process) : undefined;

if (!send) {
  console.log('1..0 # helper process for test/store/keychain-store.test.ts, not a test');
} else {
  process.on('message', (request: WorkerRequest) => {
    handle(request).then(
      (result) => send({ id: request.id, result } satisfies WorkerReply),
      (error: unknown) => send({ id: request.id, error: serializeError(error) } satisfies WorkerReply),
    );
  });
}

async function handle({ id, op, service, account = '', value = '', crashAt }: WorkerRequest): Promise<unknown> {
  switch (op) {
    case 'ping':
      return 'pong';
    case 'get':
      return new KeychainStore({ service }).get(account);
    case 'set': {
      const createEntry = crashAt ? freezingEntries(account, crashAt, () => send?.({ id, frozen: crashAt } satisfies WorkerReply)) : undefined;
      return new KeychainStore({ service, ...(createEntry && { createEntry }) }).set(account, value);
    }
    case 'delete':
      return new KeychainStore({ service }).delete(account);
    case 'accounts':
      return (await findCredentialsAsync(service)).map((c) => c.account).sort();
    case 'raw':
      return (await new AsyncEntry(service, account, { linux: { store: 'secret-service' } }).getPassword()) ?? undefined;
  }
}

/**
 * Real keychain entries, except that the call at `point` tells the parent and never
 * returns, so the parent can SIGKILL this process exactly there.
 */
function freezingEntries(head: string, point: CrashPoint, onFrozen: () => void) {
  const freeze = (): Promise<never> => {
    onFrozen();
    return new Promise<never>(() => {});
  };
  return (service: string, account: string): KeyringEntry => {
    const entry = createPinnedEntry(service, account);
    return {
      getPassword: () => entry.getPassword(),
      setPassword: (password) => {
        if (point === 'before-head' && account === head) return freeze();
        if (point === 'mid-chunks' && account.endsWith('#1')) return freeze();
        return entry.setPassword(password);
      },
      deleteCredential: () => (point === 'before-cleanup' ? freeze() : entry.deleteCredential()),
    };
  };
}

function serializeError(error: unknown): Extract<WorkerReply, { error: unknown }>['error'] {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const fields = error as Error & { code?: unknown; retryable?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof fields.code === 'string' && { code: fields.code }),
    ...(typeof fields.retryable === 'boolean' && { retryable: fields.retryable }),
    ...(error.cause instanceof Error && { causeMessage: error.cause.message }),
  };
}
