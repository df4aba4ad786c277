import { NoTerminalError } from '../errors.js';

/** --password-stdin: all of stdin, less one trailing newline (what `echo` and here-strings add). */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new NoTerminalError('the password from standard input (stdin is a terminal; pipe the password in)');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
