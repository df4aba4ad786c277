import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { writePrivateFile } from './atomic-file.js';

/** Its name in the state directory. */
export const PROMPT_FILE = 'prompt.json';

/**
 * What `serve` tells `status --prompt`, rewritten on every change a user may see: each
 * profile's state and what expires when. Nothing secret: no token, no key, no user name.
 */
export interface PromptFile {
  readonly v: 1;
  /** The daemon that wrote it: a file whose process is gone tells nothing. */
  readonly pid: number;
  readonly config: string;
  readonly defaultProfile: string;
  readonly updatedAt: string;
  readonly profiles: Readonly<Record<string, PromptProfile>>;
}

export interface PromptProfile {
  /** The session's phase (docs/sessions.md). */
  readonly state: string;
  /** The sign-in ends soon (docs/notifications.md). */
  readonly endsSoon?: boolean | undefined;
  /** When the sign-in ends by the profile's refreshTokenLifetime; absent when not known. */
  readonly signInEndsAt?: string | undefined;
  /** When the credentials served now expire (they are renewed well before). */
  readonly credentialsExpireAt?: string | undefined;
}

export async function writePromptFile(file: string, content: PromptFile): Promise<void> {
  await writePrivateFile(file, `${JSON.stringify(content)}\n`);
}

/** Synchronous: `status --prompt` runs in every shell prompt and does nothing else. */
export function readPromptFile(file: string): PromptFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<PromptFile> | null;
    const ok = parsed?.v === 1 && Number.isSafeInteger(parsed.pid) && typeof parsed.defaultProfile === 'string' && typeof parsed.profiles === 'object' && parsed.profiles !== null;
    return ok ? (parsed as PromptFile) : undefined;
  } catch {
    return undefined;
  }
}

/** At the daemon's exit: its file only (another daemon may have started since). */
export async function removePromptFile(file: string, pid: number): Promise<void> {
  if (readPromptFile(file)?.pid === pid) await rm(file, { force: true });
}
