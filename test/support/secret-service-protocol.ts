/**
 * What the test process and a keychain worker (secret-service-worker.ts) say to each
 * other over the IPC channel. Apart from the worker so that importing these never runs it.
 */

/**
 * Where a crashing write stops (see killDuringSet): before writing the head (all new
 * chunks written), in the middle of the chunks (the second chunk never written), or
 * after the head, before the old chunks are deleted.
 */
export type CrashPoint = 'before-head' | 'mid-chunks' | 'before-cleanup';

export type WorkerOp = 'ping' | 'get' | 'set' | 'delete' | 'accounts' | 'raw';

export interface WorkerRequest {
  id: number;
  op: WorkerOp;
  service: string;
  account?: string;
  value?: string;
  crashAt?: CrashPoint;
}

export type WorkerReply =
  | { id: number; result?: unknown }
  | { id: number; error: { name: string; message: string; code?: string; retryable?: boolean; causeMessage?: string } }
  | { id: number; frozen: CrashPoint };

/** Set by startKeychainWorker: tap gives the test files it runs an IPC channel too. */
export const WORKER_ENV = 'COGNITO_BROKER_KEYCHAIN_WORKER';

