import { readFileSync } from 'node:fs';

/** Its name in the state directory. */
export const PROMPT_FILE = 'prompt.json';

// Read by `status --prompt` in every shell prompt: Node's fs alone (the daemon writes it
// through atomic-file.ts, which this module does not load).

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
