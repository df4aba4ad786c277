/**
 * A container without Docker: what Docker's bridge network builds, made with ip(8). A Linux
 * bridge (the host's end, which gets the container address when addAddress() is called), a
 * network namespace (the container) with its own loopback, and a veth pair between them.
 * Needs root, which CI has; elsewhere the tests that need it are skipped (and fail in CI,
 * where a skip would hide what they show). Names are unique per run.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';

export const CONTAINER_ADDRESS = '169.254.170.2';
/** The "container's" own address on the bridge. */
export const NAMESPACE_ADDRESS = '169.254.170.10';

export interface ContainerNet {
  readonly bridge: string;
  readonly netns: string;
  /** Puts 169.254.170.2/24 on the bridge, as `docker network create --gateway` does. */
  addAddress(): void;
  removeAddress(): void;
  /** Runs a command inside the namespace with exactly `env`; never rejects. */
  exec(command: readonly string[], env: NodeJS.ProcessEnv, options?: { cwd?: string; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** `ip netns exec NS`: what to put in front of a command to run it in the "container". */
  readonly prefix: readonly string[];
  destroy(): void;
}

/** Whether a bridge and a namespace can be made here; fails the test in CI when not. */
export function requireContainerNet(t: Test): boolean {
  const why = containerNetProblem();
  if (why === undefined) return true;
  if (/^(?!0$|false$).+/i.test(process.env.CI ?? '')) t.fail(`a network namespace on a bridge is needed in CI: ${why}`);
  else (t.skip as unknown as (why: string) => unknown).call(t, `no network namespaces here: ${why}`);
  return false;
}

function containerNetProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (ip link and ip netns need it)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'no ip command (apt-get install iproute2)';
  }
  // Two bridges holding the same address would take each other's traffic.
  const held = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
  if (held.includes(` ${CONTAINER_ADDRESS}/`)) return `${CONTAINER_ADDRESS} is already on this machine (a Docker network cognito-broker, or another run of this test)`;
  return undefined;
}

export function createContainerNet(): ContainerNet {
  const id = randomBytes(3).toString('hex');
  const bridge = `cbbr${id}`;
  const netns = `cbns${id}`;
  const hostEnd = `cbvh${id}`;
  const nsEnd = `cbvc${id}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const net: ContainerNet = {
    bridge,
    netns,
    prefix: ['ip', 'netns', 'exec', netns],
    addAddress: () => ip('addr', 'add', `${CONTAINER_ADDRESS}/24`, 'dev', bridge),
    removeAddress: () => ip('addr', 'del', `${CONTAINER_ADDRESS}/24`, 'dev', bridge),
    exec(command, env, options = {}) {
      return new Promise((resolve) => {
        execFile('ip', ['netns', 'exec', netns, ...command], { env, cwd: options.cwd, timeout: options.timeoutMs ?? 30_000 }, (error, stdout, stderr) => {
          const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
          resolve({ code, stdout, stderr });
        });
      });
    },
    destroy() {
      for (const args of [['netns', 'del', netns], ['link', 'del', hostEnd], ['link', 'del', bridge]]) {
        try {
          ip(...args);
        } catch {
          // already gone
        }
      }
    },
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('link', 'set', bridge, 'up');
    ip('netns', 'add', netns);
    ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd);
    ip('link', 'set', nsEnd, 'netns', netns);
    ip('link', 'set', hostEnd, 'master', bridge);
    ip('link', 'set', hostEnd, 'up');
    ip('-n', netns, 'addr', 'add', `${NAMESPACE_ADDRESS}/24`, 'dev', nsEnd);
    ip('-n', netns, 'link', 'set', nsEnd, 'up');
    ip('-n', netns, 'link', 'set', 'lo', 'up');
  } catch (error) {
    net.destroy();
    throw error;
  }
  return net;
}
