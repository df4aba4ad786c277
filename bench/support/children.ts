/**
 * Starting the processes a benchmark measures, and waiting until they say they are ready.
 * Every child belongs to a ChildGroup (testkit/children.ts), which stops them all together
 * and kills any left behind when this process exits.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildGroup } from '../../testkit/children.js';
import { pinned } from './machine.js';

/** The repository root (dist/bench/support/ → ../../..). */
export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
/** The compiled CLI, as `npm run build` leaves it. */
export const CLI = fileURLToPath(new URL('../../src/cli/bin.cjs', import.meta.url));

export interface StartedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The rest of the line that matched `ready`. */
  readonly readyLine: string;
  /** Everything the child printed on stdout up to that line. */
  readonly stdout: string;
}

/**
 * Spawns `command args` (pinned to `cpu` when given) and resolves once a stdout line
 * starts with `readyPrefix`.
 */
export async function startChild(
  group: ChildGroup,
  command: string,
  args: readonly string[],
  { env, cpu, readyPrefix, timeoutMs = 20_000 }: { env: NodeJS.ProcessEnv; cpu?: number; readyPrefix: string; timeoutMs?: number },
): Promise<StartedChild> {
  const [cmd, argv] = pinned(cpu, command, args);
  const child = group.spawn(cmd, argv, { env });
  let text = '';
  const readyLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${command} did not get ready within ${timeoutMs} ms: ${group.output(child)}`)), timeoutMs);
    const onData = (data: Buffer) => {
      text += data.toString();
      const line = text.split('\n').slice(0, -1).find((l) => l.startsWith(readyPrefix));
      if (line !== undefined) done(line.slice(readyPrefix.length).trim());
    };
    const onExit = (code: number | null, signal: string | null) => fail(new Error(`${command} exited (${signal ?? code}) before it was ready: ${group.output(child)}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    const done = (line: string) => {
      cleanup();
      resolve(line);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
  return { child, pid: child.pid as number, readyLine, stdout: text };
}
