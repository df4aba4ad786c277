/**
 * A reverse proxy on 127.0.0.1 that holds every answer for `delayMs` before passing it on:
 * one simulated network round trip per Cognito call, in front of the local stack.
 * cognito-local lacks GetTokensFromRefreshToken, which Cognito has and the broker calls to
 * refresh: the proxy sends it on as the InitiateAuth REFRESH_TOKEN_AUTH it stands for (the
 * answer has the same shape), so a refresh is one round trip here as it is against Cognito.
 * Any other answer that an operation is unknown to the emulator goes back at once. It also
 * counts the calls by the operation the emulator answered (the X-Amz-Target header), so a
 * benchmark can say exactly how many times the broker went upstream.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listen, readBody } from '../../testkit/http.js';

export interface DelayProxy {
  readonly url: string;
  /** Calls per operation (`InitiateAuth`, `GetId`, ...; other requests by method and path). */
  readonly calls: Map<string, number>;
  delayMs: number;
  resetCounts(): void;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startDelayProxy(target: string, delayMs: number): Promise<DelayProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const calls = new Map<string, number>();
  const state = { delayMs };

  const server = createServer((req, res) => void forward(req, res));
  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const received = await readBody(req, MAX_BODY_BYTES, () => new Error('request body too large'));
      const rewritten = asCognitoLocal(req.headers['x-amz-target'], received);
      const amzTarget = rewritten?.amzTarget ?? req.headers['x-amz-target'];
      const body = rewritten?.body ?? received;
      const op = typeof amzTarget === 'string' ? (amzTarget.split('.').pop() ?? amzTarget) : `${req.method} ${req.url?.split('?')[0]}`;
      calls.set(op, (calls.get(op) ?? 0) + 1);
      const headers = { ...req.headers, host: upstream.host, ...(rewritten ? { 'x-amz-target': rewritten.amzTarget, 'content-length': String(body.length) } : {}) };
      const out = request(
        { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
        (answer) => void relay(answer, res).catch((error: unknown) => fail(res, error)),
      );
      out.on('error', (error) => fail(res, error));
      out.end(body);
    } catch (error) {
      fail(res, error);
    }
  }

  async function relay(answer: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(answer, MAX_BODY_BYTES, () => new Error('answer body too large'));
    if (state.delayMs > 0 && !isUnknownOperation(answer.statusCode, body.toString('utf8'))) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    res.writeHead(answer.statusCode ?? 502, answer.headers).end(body);
  }

  const { url } = await listen(server, '127.0.0.1', 0);
  return {
    url,
    calls,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value: number) {
      state.delayMs = value;
    },
    resetCounts: () => calls.clear(),
    async close() {
      await closeServer(server);
      agent.destroy();
    },
  };
}

const USER_POOL_API = 'AWSCognitoIdentityProviderService';

/**
 * GetTokensFromRefreshToken as InitiateAuth REFRESH_TOKEN_AUTH; undefined for any other
 * request, which goes on as it is. Not with a client secret: REFRESH_TOKEN_AUTH wants it
 * hashed with the user's name, which the request does not carry (the broker then falls back
 * to InitiateAuth itself).
 */
function asCognitoLocal(amzTarget: string | string[] | undefined, body: Buffer): { amzTarget: string; body: Buffer } | undefined {
  if (amzTarget !== `${USER_POOL_API}.GetTokensFromRefreshToken`) return undefined;
  const request = JSON.parse(body.toString('utf8')) as { ClientId: string; RefreshToken: string; ClientSecret?: string; DeviceKey?: string };
  if (request.ClientSecret !== undefined) return undefined;
  const parameters = { REFRESH_TOKEN: request.RefreshToken, ...(request.DeviceKey ? { DEVICE_KEY: request.DeviceKey } : {}) };
  const initiateAuth = { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: request.ClientId, AuthParameters: parameters };
  return { amzTarget: `${USER_POOL_API}.InitiateAuth`, body: Buffer.from(JSON.stringify(initiateAuth)) };
}

function fail(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ __type: 'InternalErrorException', message: `delay proxy: ${(error as Error).message}` });
  res.writeHead(502, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** cognito-local's answer to an operation it lacks: 500, "Unsupported x-amz-target header". */
function isUnknownOperation(status: number | undefined, body: string): boolean {
  return status === 500 && /unsupported x-amz-target/i.test(body);
}
