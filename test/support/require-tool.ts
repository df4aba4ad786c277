import { execFileSync } from 'node:child_process';
import type { Test } from 'tap';

/**
 * The absolute path of a command this test needs, or undefined after failing the test in
 * CI (which installs it: a skip there would hide what the test shows) or skipping it here.
 */
export function requireTool(t: Test, command: string, install: string): string | undefined {
  let path: string | undefined;
  try {
    path = execFileSync('sh', ['-c', `command -v "$0"`, command], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    path = undefined;
  }
  if (path) return path;
  if (/^(?!0$|false$).+/i.test(process.env.CI ?? '')) t.fail(`${command} is needed in CI (${install})`);
  else (t.skip as unknown as (why: string) => unknown).call(t, `no ${command} here (${install})`);
  return undefined;
}
