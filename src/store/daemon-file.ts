import { readFile, rm } from 'node:fs/promises';
import { writePrivateFile } from './atomic-file.js';

/** Its name in the state directory. */
export const DAEMON_FILE = 'daemon.json';

/** Where a running daemon can be reached; no secrets (the token stays in its own file). */
export interface DaemonInfo {
  readonly pid: number;
  readonly url: string;
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

export async function readDaemonInfo(file: string): Promise<DaemonInfo | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}

export async function removeDaemonInfo(file: string, pid: number): Promise<void> {
  const info = await readDaemonInfo(file);
  if (info?.pid === pid) await rm(file, { force: true });
}
