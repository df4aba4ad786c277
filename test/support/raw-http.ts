/**
 * HTTP/1.x over a raw TCP socket: for requests no HTTP client library would send (no Host,
 * duplicated headers, control characters, trickled bytes) and to see exactly what the
 * server answers, or that it closed the connection instead.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  /** Undefined when the server closed or reset the connection without answering. */
  readonly status?: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** How the exchange ended. */
  readonly end: 'answered' | 'closed' | 'reset' | 'timeout';
  readonly ms: number;
}

export interface RawRequestOptions {
  /** Give up (and destroy the socket) after this long. Default 5 s. */
  readonly timeoutMs?: number;
  /** The request was HEAD: a response has no body whatever Content-Length says. */
  readonly head?: boolean;
  /**
   * Writes the request. Default: writes `data` at once. May trickle; must stop writing
   * once `socket.destroyed`.
   */
  readonly write?: (socket: Socket) => void | Promise<void>;
}

export function rawRequest(port: number, data: string | Buffer, options: RawRequestOptions = {}): Promise<RawResponse> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (end: RawResponse['end']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(received), end: end === 'answered' || parse(received).status === undefined ? end : 'answered', ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 5_000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (isComplete(received, options.head === true)) finish('answered');
    });
    socket.on('error', () => finish('reset'));
    socket.on('close', () => finish('closed'));
    socket.on('connect', () => {
      if (options.write) void Promise.resolve(options.write(socket)).catch(() => finish('reset'));
      else socket.write(data);
    });
  });
}

function splitHead(buffer: Buffer): { head: string; body: Buffer } | undefined {
  const at = buffer.indexOf('\r\n\r\n');
  if (at < 0) return undefined;
  const head = buffer.subarray(0, at).toString('latin1');
  // An interim "100 Continue" (Expect: 100-continue) comes before the real answer.
  if (/^HTTP\/1\.[01] 1\d\d/.test(head)) return splitHead(buffer.subarray(at + 4));
  return { head, body: buffer.subarray(at + 4) };
}

function parse(buffer: Buffer): Omit<RawResponse, 'end' | 'ms'> {
  const parts = splitHead(buffer);
  if (!parts) return { headers: {}, body: '' };
  const [statusLine = '', ...lines] = parts.head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = parts.body.toString('utf8');
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: status === undefined ? undefined : Number(status), headers, body };
}

function isComplete(buffer: Buffer, head: boolean): boolean {
  const parts = splitHead(buffer);
  if (!parts) return false;
  const { headers, status } = parse(buffer);
  if (head || status === 204 || status === 304) return true;
  if (headers['content-length'] !== undefined) return parts.body.length >= Number(headers['content-length']);
  if (headers['transfer-encoding'] === 'chunked') return /(^|\r\n)0\r\n\r\n$/.test(parts.body.toString('latin1'));
  return false; // until the server closes
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) return out;
    const size = parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** A well-formed GET with the given extra header lines (without the final blank line). */
export function getRequest(path: string, headerLines: readonly string[]): string {
  return `GET ${path} HTTP/1.1\r\n${headerLines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`;
}
