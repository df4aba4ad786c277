import { execFile } from 'node:child_process';
import type { SessionNotice } from '../broker/session-notice.js';

/** Tells the user of a notice: a desktop notification, the user's own command. Never rejects. */
export interface Notifier {
  notify(notice: SessionNotice): Promise<void>;
}

/** How a helper program ended: 0, another exit code, or why it did not run ("ENOENT": not installed). */
export type RunOutcome = { readonly code: number } | { readonly error: string };

/** Runs a program directly (no shell), with this environment, for at most `timeoutMs`. */
export type RunProgram = (file: string, args: readonly string[], options: { readonly env: NodeJS.ProcessEnv; readonly timeoutMs: number }) => Promise<RunOutcome>;

export const runProgram: RunProgram = (file, args, { env, timeoutMs }) =>
  new Promise((resolve) => {
    execFile(file, [...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL', windowsHide: true }, (error) => {
      if (!error) return resolve({ code: 0 });
      const { code, signal } = error as NodeJS.ErrnoException & { signal?: string | null };
      if (typeof code === 'number') return resolve({ code });
      resolve({ error: typeof code === 'string' ? code : signal ? `killed by ${signal} after ${timeoutMs} ms` : error.message });
    });
  });

/** Secrets the daemon's own environment may hold, never passed to a program it runs to notify. */
export const WITHHELD_VARIABLES: readonly string[] = [
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'COGNITO_BROKER_CLIENT_SECRET',
];

export function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (!WITHHELD_VARIABLES.includes(name.toUpperCase())) kept[name] = value;
  return kept;
}
