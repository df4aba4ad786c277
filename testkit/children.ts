/**
 * Child processes for tests, benchmarks and the demo: started in groups, stopped together,
 * never left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const STOP_TIMEOUT_MS = 5_000;

/** Child processes started together and stopped together, never left behind. */
export class ChildGroup {
  readonly #children: ChildProcess[] = [];
  readonly #output = new Map<ChildProcess, string>();
  static readonly #all = new Set<ChildProcess>();

  static {
    // Last resort when the process exits without calling stop(): a daemon must not outlive it.
    process.once('exit', () => {
      for (const child of ChildGroup.#all) child.kill('SIGKILL');
    });
  }

  spawn(command: string, args: string[], { env, ipc = false }: { env: NodeJS.ProcessEnv; ipc?: boolean }): ChildProcess {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])] });
    this.#children.push(child);
    ChildGroup.#all.add(child);
    child.once('exit', () => ChildGroup.#all.delete(child));
    // Read both pipes (a full pipe would block the child) and keep them for error messages.
    const record = (data: Buffer | Error) => this.#output.set(child, `${this.#output.get(child) ?? ''}${String(data instanceof Error ? data.message : data)}`);
    child.stdout?.on('data', record);
    child.stderr?.on('data', record);
    child.once('error', record);
    return child;
  }

  output(child: ChildProcess): string {
    return (this.#output.get(child) ?? '').trim().slice(-2000);
  }

  /** Stops the children, the last started first, and waits until each has exited. */
  async stopAll(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    for (const child of this.#children.splice(0).reverse()) await stopChild(child, { signal });
  }
}

/**
 * Sends `signal` (default SIGTERM), then SIGKILL if the child is still there after
 * `timeoutMs`; resolves with the exit code once it has exited.
 */
export async function stopChild(
  child: ChildProcess,
  { signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS }: { signal?: NodeJS.Signals; timeoutMs?: number } = {},
): Promise<number | null> {
  if (hasExited(child)) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Exited, killed, or never started (a spawn that failed has no pid and sends no 'exit'). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

const TAP_HOOKS = /"?--(?:import|loader|require)=\S*@tapjs[/\\]processinfo\S*?"?(?=\s|$)/g;

/** NODE_OPTIONS without tap's process-info loader (test/support/tap-children.mjs uses it too). */
export function withoutTapLoader(nodeOptions: string): string {
  return nodeOptions.replace(TAP_HOOKS, '').trim();
}

/**
 * `command args`, started with no test-harness hooks at all when a test under tap starts it.
 * tap puts its process-info loader in NODE_OPTIONS and adds it to every child's env; in tests,
 * test/support/tap-children.mjs swaps it for a light coverage preload. This is for the children
 * that must start with neither: those that run none of our code (cognito-local, npm, the SDK
 * loops), and a process whose loaded modules a test records. Other NODE_OPTIONS (a test's
 * preload) are kept. Outside tap this is `command args` unchanged.
 */
export function withoutTapHooks(command: string, args: readonly string[]): [string, string[]] {
  const options = (process.env.NODE_OPTIONS ?? '').trim();
  const withoutHooks = withoutTapLoader(options);
  if (withoutHooks === options) return [command, [...args]];
  // env(1) sets NODE_OPTIONS after the spawn hooks have done their work.
  return ['env', [`NODE_OPTIONS=${withoutHooks}`, command, ...args]];
}
