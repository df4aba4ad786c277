import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { repoPath } from './paths.js';

const run = promisify(execFile);
const DRIVER = repoPath('test/support/pty-drive.py');

export interface PtyResult {
  readonly exit: number | null;
  /** Everything the terminal showed, prompts and echo included. */
  readonly output: string;
  /** Prompts that never appeared. */
  readonly unanswered: string[];
}

/** Runs argv on a pseudo-terminal, typing each answer when its prompt appears. */
export async function onTerminal(argv: string[], env: NodeJS.ProcessEnv, steps: [RegExp, string][], timeoutS = 30): Promise<PtyResult> {
  const spec = { argv, env, steps: steps.map(([re, text]) => [re.source, text]), timeout: timeoutS };
  const { stdout } = await run('python3', [DRIVER, JSON.stringify(spec)], { maxBuffer: 10 * 1024 * 1024 });
  return JSON.parse(stdout) as PtyResult;
}
