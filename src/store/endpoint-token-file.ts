import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { writePrivateFile } from './atomic-file.js';

/** 256 random bits, hex: the value of AWS_CONTAINER_AUTHORIZATION_TOKEN. */
export const ENDPOINT_TOKEN_BYTES = 32;
const TOKEN_FORMAT = /^[0-9a-f]{64}$/;

/**
 * The endpoint's auth token, kept in a 0600 file so it survives restarts (shells and
 * long-running tools keep the value they were given). Written without a trailing newline:
 * the JS SDK and newer botocore send the file's bytes verbatim and reject a newline.
 */
export async function loadOrCreateEndpointToken(file: string): Promise<string> {
  const existing = await readToken(file);
  if (existing) return existing;
  const token = randomBytes(ENDPOINT_TOKEN_BYTES).toString('hex');
  await writePrivateFile(file, token);
  return token;
}

/** The token of a running daemon, for `env`; undefined when there is none yet. */
export async function readToken(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (!TOKEN_FORMAT.test(text)) return undefined;
  // Someone loosened the mode: tighten it rather than serve a token others can read.
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return text;
}
