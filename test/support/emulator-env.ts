/**
 * Shared by the login integration tests: a broker environment whose user pool is the
 * user-pool emulator (SRP, secrets, every challenge, devices, rotation), with one profile
 * per kind of app client, and helpers to drive the compiled CLI.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UserPoolClientSpec, UserPoolEmulator } from '../../testkit/emulators/user-pool-emulator.js';
import { type BrokerEnv, startBrokerEnv } from './broker-env.js';
import { spawnCli } from './cli.js';

export interface EmulatorEnv {
  readonly be: BrokerEnv;
  readonly emu: UserPoolEmulator;
  /** Client secrets by profile name (profiles whose client has one). */
  readonly secrets: Readonly<Record<string, string>>;
  /** Rewrites the config with these profiles added (name → overrides of the stack profile). */
  addProfiles(profiles: Record<string, Record<string, unknown>>): void;
  stop(): Promise<void>;
}

/**
 * Starts the stack with the user-pool emulator as its user pool and one profile per client
 * spec (`default` is the stack's own plain client).
 */
export async function startEmulatorEnv(clients: Record<string, UserPoolClientSpec>, options: { idTokenLifetimeSeconds?: number; deviceTracking?: boolean } = {}): Promise<EmulatorEnv> {
  const be = await startBrokerEnv({
    ...(options.idTokenLifetimeSeconds ? { idTokenLifetimeSeconds: options.idTokenLifetimeSeconds } : {}),
    userPoolEmulator: { primary: true, ...(options.deviceTracking ? { deviceTracking: true } : {}), user: { username: 'stack-user' } },
  });
  const emulator = be.stack.userPoolEmulator?.emulator;
  if (!emulator) throw new Error('the stack started no user-pool emulator');
  const base = { ...be.stack.profile } as Record<string, unknown>;
  delete base.username;
  const profiles: Record<string, Record<string, unknown>> = { default: base };
  const secrets: Record<string, string> = {};
  for (const [name, spec] of Object.entries(clients)) {
    const client = emulator.createClient({ name, ...spec });
    profiles[name] = { ...base, clientId: client.clientId };
    if (client.clientSecret) secrets[name] = client.clientSecret;
  }
  const write = () => writeFileSync(be.configFile, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, profiles }, null, 2));
  write();
  return {
    be,
    emu: emulator,
    secrets,
    addProfiles(extra) {
      for (const [name, overrides] of Object.entries(extra)) profiles[name] = { ...base, ...overrides };
      write();
    },
    stop: () => be.stop(),
  };
}

export interface Conversation {
  /** Everything the CLI wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
  /** Waits for `pattern` on stderr (after the previous match). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Writes a line to the CLI's stdin. */
  line(text: string): void;
  /** Closes stdin and waits for the exit code. */
  exit(): Promise<number | null>;
  readonly argv: readonly string[];
}

/** The compiled CLI with piped stdio, answered line by line (`--password-stdin --mfa-code -`). */
export function converse(args: string[], env: NodeJS.ProcessEnv): Conversation {
  const child = spawnCli(args, env);
  let stderr = '';
  let stdout = '';
  let seen = 0;
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    argv: child.spawnargs,
    stderr: () => stderr,
    stdout: () => stdout,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = stderr.slice(seen).match(pattern);
        if (match) {
          seen += (match.index ?? 0) + match[0].length;
          return match;
        }
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${pattern} did not show (exit ${child.exitCode}): ${stderr.slice(-2000)}`);
        await sleep(20);
      }
    },
    line(text) {
      child.stdin?.write(`${text}\n`);
    },
    async exit() {
      child.stdin?.end();
      return exited;
    },
  };
}

/** A secret as text and in the encodings a serializer could give it (as security-logs.test.ts). */
export function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, JSON.stringify(secret).slice(1, -1), [...bytes].join(','), bytes.toString('base64'), bytes.toString('hex')];
}

/** Names of the secrets found in `text`, in any of their encodings. */
export function secretsIn(text: string, secrets: Record<string, string>): string[] {
  return Object.entries(secrets)
    .filter(([, secret]) => encodings(secret).some((form) => text.includes(form)))
    .map(([what]) => what);
}
