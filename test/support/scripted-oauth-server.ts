/**
 * A tiny OAuth / OpenID Connect provider on 127.0.0.1 whose answers each test scripts:
 * records every request (method, path, headers, form) and answers with what `reply`
 * returns. For unit tests of the token client and discovery, over a real socket.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { closeServer, listen } from '../../testkit/http.js';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly form: URLSearchParams;
  readonly body: string;
}

export interface ScriptedReply {
  readonly status?: number;
  /** An object is sent as JSON; a string as it is. */
  readonly body?: unknown;
  readonly contentType?: string;
  /** Never answer (a hung provider). */
  readonly hang?: boolean;
}

export interface ScriptedServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  reply: (request: RecordedRequest) => ScriptedReply;
  close(): Promise<void>;
}

export async function startScriptedServer(reply: (request: RecordedRequest) => ScriptedReply = () => ({ status: 404 })): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  const state = { reply };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, form: new URLSearchParams(body), body };
      requests.push(recorded);
      const answer = state.reply(recorded);
      if (answer.hang) return;
      const text = typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType ?? 'application/json' });
      res.end(text);
    });
  });
  const { url } = await listen(server, '127.0.0.1', 0);
  return {
    url,
    requests,
    get reply() {
      return state.reply;
    },
    set reply(fn) {
      state.reply = fn;
    },
    close: () => closeServer(server),
  };
}

/** An unsigned JWT with these claims (the broker reads claims; the identity pool verifies). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

export function idTokenFor(issuer: string, clientId: string | string[], lifetimeSeconds = 3600, extra: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return fakeJwt({ iss: issuer, aud: clientId, sub: 'user-1', iat: now, exp: now + lifetimeSeconds, token_use: 'id', ...extra });
}
