/**
 * HTTP for the doubles and their callers: listen, close and read a bounded request body on
 * the server side; one GET with a token on the client side.
 */
import { request, type Agent, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export function listen(server: Server, host: string, port: number): Promise<{ port: number; url: string }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = (server.address() as AddressInfo).port;
      resolve({ port: actual, url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}` });
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive sockets from SDK clients would otherwise hold close() open.
    server.closeAllConnections();
  });
}

export function readBody(req: IncomingMessage, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit keep draining (so an error can still be answered) but stop storing.
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('end', () => (size > maxBytes ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

export interface GetAnswer {
  readonly status: number;
  /** The Content-Type header, as sent ('undefined' when there was none). */
  readonly type: string;
  readonly body: string;
}

/**
 * GET `url` with `token` as the Authorization header. `agent`: false (the default) opens a
 * connection for this request alone; `timeoutMs`: fail when no answer comes within it.
 */
export function httpGet(url: string, token: string, { agent = false, timeoutMs }: { agent?: Agent | false; timeoutMs?: number } = {}): Promise<GetAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: token }, ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      res.on('error', reject);
    });
    if (timeoutMs !== undefined) req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}
