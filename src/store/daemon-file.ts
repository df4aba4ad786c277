import { readFile, rm } from 'node:fs/promises';
import { writePrivateFile } from './atomic-file.js';

/** Where a running daemon can be reached; no secrets (the token stays in its own file). */
export interface DaemonInfo {
  readonly pid: number;
  readonly url: string;
  readonly tokenFile: string;
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
