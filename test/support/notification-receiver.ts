/**
 * A recording freedesktop Notifications service (fake-notifications.py) on a private D-Bus
 * session bus: no notification daemon runs here, so this stands in for the desktop's and
 * records each Notify call it answers. Needs Debian's python3-dbus and python3-gi.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { repoPath } from './paths.js';

export const RECEIVER_INSTALL_HINT = 'apt-get install -y --no-install-recommends python3-dbus python3-gi libglib2.0-bin';
const SCRIPT = repoPath('test/support/fake-notifications.py');
const READY_TIMEOUT_MS = 10_000;

/** Debian's python (pyenv's has no dbus module). */
function python(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export interface ReceivedNotification {
  readonly appName: string;
  readonly summary: string;
  readonly body: string;
  readonly hints: Record<string, string | number>;
}

export interface NotificationReceiver {
  received(): ReceivedNotification[];
  stop(): Promise<void>;
}

/**
 * Whether the receiver and gdbus (what the daemon calls) can run here; fails the test in CI
 * (which installs them), skips it elsewhere.
 */
export function requireNotificationReceiver(t: Test): boolean {
  let missing: string | undefined;
  try {
    execFileSync(python(), ['-c', 'import dbus, dbus.mainloop.glib, gi.repository.GLib'], { stdio: 'ignore' });
    execFileSync('sh', ['-c', 'command -v gdbus'], { stdio: 'ignore' });
  } catch {
    missing = `python3-dbus, python3-gi or gdbus missing (${RECEIVER_INSTALL_HINT})`;
  }
  if (!missing) return true;
  if (/^(?!0$|false$).+/i.test(process.env.CI ?? '')) t.fail(`needed in CI: ${missing}`);
  else (t.skip as unknown as (why: string) => unknown).call(t, missing);
  return false;
}

/** Starts the receiver on the bus `busEnv` names (DBUS_SESSION_BUS_ADDRESS); resolves once it owns the name. */
export async function startNotificationReceiver(busEnv: Readonly<Record<string, string>>, dir: string): Promise<NotificationReceiver> {
  const record = join(dir, `notifications-${process.pid}-${Date.now()}.jsonl`);
  const child: ChildProcess = spawn(python(), [SCRIPT, record], { env: { PATH: process.env.PATH ?? '', ...busEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!output.includes('ready')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the notification receiver did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    received: () => (existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ReceivedNotification) : []),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
