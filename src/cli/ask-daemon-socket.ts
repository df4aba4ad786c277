import { createConnection } from 'node:net';
import { readToken } from '../store/endpoint-token-file.js';
import { announcedDaemon, commandSocketOf, profileUrl } from './announced-daemon.js';
import type { CommandOptions } from './cli-context.js';

/** How long a command waits for the daemon to answer (it answers from memory). */
export const DAEMON_TIMEOUT_MS = 2_000;

/** The daemon's /token body. */
export interface TokenBody {
  readonly IdToken: string;
  readonly AccessToken: string;
  readonly Expiration: string;
}

export function isTokenBody(body: unknown): body is TokenBody {
  const b = body as Partial<Record<keyof TokenBody, unknown>> | null;
  return typeof b === 'object' && b !== null && typeof b.IdToken === 'string' && typeof b.AccessToken === 'string' && typeof b.Expiration === 'string';
}

/**
 * The profile's /token or /credentials answer from the daemon of the command's config file,
 * over the daemon's command socket: the bin's fast path for token and credential-process
 * (src/cli/bin.ts). Undefined whenever anything else is needed: no such daemon, no command
 * socket of this user's (commandSocketOf: only then is the listener known to be this user's,
 * and the token goes to it), or any answer but 200 with the body `isBody` expects. The whole
 * command then looks again through daemon-client.ts, which proves the daemon, waits for it,
 * serves in-process or reports, as the case may be.
 *
 * One HTTP/1.1 request written here rather than with node:http: loading node:http and its
 * first request cost a command about 10 ms, a third of a bare `node` start, and this request
 * goes only to our own daemon, whose answers fastify frames with Content-Length.
 */
export async function askDaemonSocket<T>(options: CommandOptions, what: 'credentials' | 'token', isBody: (body: unknown) => body is T): Promise<T | undefined> {
  const daemon = announcedDaemon(options);
  const socket = daemon && commandSocketOf(daemon.info, daemon.stateDir);
  if (!daemon || socket === undefined) return undefined;
  const master = readToken(daemon.info.tokenFile);
  if (!master) return undefined;
  const url = new URL(profileUrl(daemon.info.url, daemon.profile, daemon.info.defaultProfile, what));
  const answer = await getOverSocket(socket, `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${master}\r\nConnection: close\r\n\r\n`);
  return answer?.status === 200 && isBody(answer.body) ? answer.body : undefined;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Sends `request` and reads the answer, done as soon as its Content-Length has arrived;
 * undefined if there is none to use (no answer within DAEMON_TIMEOUT_MS of silence included).
 */
function getOverSocket(path: string, request: string): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    // write, not end: Node's HTTP server drops a request whose connection is half-closed before it answers.
    const socket = createConnection({ path }, () => socket.write(request));
    const done = (answer: Answer | undefined) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(DAEMON_TIMEOUT_MS, () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const answer = parseAnswer(received);
      if (answer !== 'incomplete') done(answer);
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/**
 * The status and JSON body of an answer framed by Content-Length: 'incomplete' until all of
 * it is there, undefined for anything else (another framing, a bad status line, not JSON).
 */
function parseAnswer(raw: Buffer): Answer | 'incomplete' | undefined {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd === -1) return 'incomplete';
  const [statusLine = '', ...headers] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1];
  const length = Number(headers.find((h) => /^content-length:/i.test(h))?.slice('content-length:'.length).trim() ?? Number.NaN);
  if (status === undefined || !Number.isSafeInteger(length)) return undefined;
  const body = raw.subarray(headEnd + 4);
  if (body.length < length) return 'incomplete';
  try {
    return body.length === length ? { status: Number(status), body: JSON.parse(body.toString('utf8')) } : undefined;
  } catch {
    return undefined;
  }
}
