import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writePrivateFile } from './atomic-file.js';

/** The registry of long-lived container tokens (`docker env`), in the state directory. */
export const CONTAINER_TOKENS_FILE = 'container-tokens.json';

/**
 * One long-lived container token, as the registry keeps it: no secret. The token itself is
 * derived from the master token and these fields (endpoint-auth.ts), so a rotation of the
 * master ends every one, and removing the record ends this one.
 */
export interface ContainerTokenRecord {
  /** 16 hex digits: what `docker ls` shows and `docker revoke` takes. */
  readonly id: string;
  readonly profile: string;
  /** Also opens the profile's /token. */
  readonly idToken: boolean;
  /**
   * `full-uri`: sent in Authorization (AWS_CONTAINER_AUTHORIZATION_TOKEN). `relative-uri`: the
   * secret is the URL path (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), as those clients send no header.
   */
  readonly mode: ContainerTokenMode;
  /** What the user called it (`docker env --name`), to tell them apart in `docker ls`. */
  readonly name?: string;
  readonly createdAt: string;
  /** A fingerprint of the master it was made under (an HMAC, not the token): another master ignores it. */
  readonly master: string;
}

export type ContainerTokenMode = 'full-uri' | 'relative-uri';

export const CONTAINER_TOKEN_ID_PATTERN = /^[0-9a-f]{16}$/;

export function containerTokensFile(stateDir: string): string {
  return join(stateDir, CONTAINER_TOKENS_FILE);
}

/** The records in the file; none when it is missing. Records that are not well formed are left out. */
export async function readContainerTokens(file: string): Promise<ContainerTokenRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const list = (parsed as { tokens?: unknown } | null)?.tokens;
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

/** Replaces the file's records (0600, written whole and renamed into place). */
export async function writeContainerTokens(file: string, records: readonly ContainerTokenRecord[]): Promise<void> {
  await writePrivateFile(file, `${JSON.stringify({ version: 1, tokens: records }, null, 2)}\n`);
}

function isRecord(value: unknown): value is ContainerTokenRecord {
  const r = value as Partial<Record<keyof ContainerTokenRecord, unknown>> | null;
  return typeof r === 'object' && r !== null &&
    typeof r.id === 'string' && CONTAINER_TOKEN_ID_PATTERN.test(r.id) &&
    typeof r.profile === 'string' && typeof r.idToken === 'boolean' &&
    (r.mode === 'full-uri' || r.mode === 'relative-uri') &&
    (r.name === undefined || typeof r.name === 'string') &&
    typeof r.createdAt === 'string' && typeof r.master === 'string';
}
