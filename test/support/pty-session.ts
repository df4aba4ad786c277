import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoPath } from './paths.js';

const DRIVER = repoPath('test/support/pty-session.py');

/** A command on a pseudo-terminal that a test types into as it runs. */
export interface TerminalSession {
  /** Everything the terminal showed so far (prompts, echo, masks). */
  output(): string;
  /** Waits until `pattern` shows in output that came after the previous match; returns the match. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Types `text` (end a line with \r, as Enter). */
  type(text: string): void;
  /** The exit code, once the command has ended. */
  exit(timeoutMs?: number): Promise<number | null>;
}

export function startTerminal(argv: string[], env: NodeJS.ProcessEnv): TerminalSession {
  const child = spawn('python3', [DRIVER, JSON.stringify({ argv, env })], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  let seen = 0;
  child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    output: () => output,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.slice(seen).match(pattern);
        if (match) {
          seen += (match.index ?? 0) + match[0].length;
          return match;
        }
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`${pattern} did not show (exit ${child.exitCode}); the terminal showed:\n${output.slice(-3000)}`);
        }
        await sleep(20);
      }
    },
    type(text) {
      child.stdin.write(text);
    },
    async exit(timeoutMs = 30_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
