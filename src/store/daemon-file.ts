import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { writePrivateFile } from './atomic-file.js';

/** Its name in the state directory. */
export const DAEMON_FILE = 'daemon.json';
/** The daemon's Unix socket for the CLI's own commands, beside daemon.json (src/app/command-socket.ts). */
export const DAEMON_SOCKET = 'daemon.sock';

/** Where a running daemon can be reached; no secrets (the token stays in its own file). */
export interface DaemonInfo {
  readonly pid: number;
  readonly url: string;
  /** Its Unix socket for commands (absent on Windows, and in files from before it had one). */
  readonly socket?: string;
  readonly tokenFile: string;
  /** The config file it serves (absent in files from before this field existed). */
  readonly config?: string;
  readonly defaultProfile: string;
  readonly profiles: readonly string[];
  readonly startedAt: string;
}

export async function writeDaemonInfo(file: string, info: DaemonInfo): Promise<void> {
  await writePrivateFile(file, `${JSON.stringify(info, null, 2)}\n`);
}

/** Read synchronously, like the token file (readToken): commands read it on their fast path. */
export function readDaemonInfo(file: string): DaemonInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}

export async function removeDaemonInfo(file: string, pid: number): Promise<void> {
  const info = readDaemonInfo(file);
  if (info?.pid === pid) await rm(file, { force: true });
}
