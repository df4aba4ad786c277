import { existsSync } from 'node:fs';

/** Present under WSL (1 and 2): the interop that runs Windows programs. */
const WSL_INTEROP = '/proc/sys/fs/binfmt_misc/WSLInterop';

export interface SessionFacts {
  readonly env: NodeJS.ProcessEnv;
  readonly platform: NodeJS.Platform;
  readonly exists: (path: string) => boolean;
}

const HERE: SessionFacts = { env: process.env, platform: process.platform, exists: existsSync };

/**
 * Why a browser started from this shell would most likely not reach this machine's
 * 127.0.0.1, or undefined when it would: an SSH session (the browser is on the user's own
 * machine), WSL (a Windows browser, and 127.0.0.1 forwarding that is not always there), or
 * Linux with no display and no BROWSER command (a container, a headless box). `login
 * --browser` then signs in with a pasted address instead of a loopback listener.
 */
export function remoteSessionReason(facts: SessionFacts = HERE): string | undefined {
  const { env, platform, exists } = facts;
  if (env.SSH_CONNECTION) return 'this is an SSH session (SSH_CONNECTION is set)';
  if (platform === 'linux' && (env.WSL_DISTRO_NAME || exists(WSL_INTEROP))) return 'this is WSL';
  // xdg-open falls back to $BROWSER (a text browser, or a script of one's own) with no desktop.
  if (platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY && !env.BROWSER) return 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)';
  return undefined;
}
