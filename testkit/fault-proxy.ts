/**
 * A fault-injecting HTTP proxy on 127.0.0.1, between the broker's real AWS SDK clients and
 * the local Cognito stack. One proxy fronts both pools: requests go to the user pool
 * (cognito-local) or the identity pool (our emulator) by their X-Amz-Target, so a profile
 * points both `endpoints` at `proxy.url`.
 *
 * A test switches its behaviour at run time, per operation or per pool:
 *
 *   proxy.inject('GetCredentialsForIdentity', { kind: 'aws-error', type: 'TooManyRequestsException' });
 *   proxy.inject('user-pool', { kind: 'hang' }, { times: 2 });
 *   proxy.clear();
 *
 * and reads what reached it: `proxy.calls` (per X-Amz-Target) and `proxy.log` (each request
 * with its time on the test's clock, so calls per fake minute can be counted).
 */
import { randomUUID } from 'node:crypto';
import { type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { closeServer, listen, readBody } from './http.js';

export type Pool = 'user-pool' | 'identity-pool';
/** An operation name (`InitiateAuth`, `GetId`, `GetCredentialsForIdentity`, ...), a whole pool, or everything. */
export type FaultScope = string | Pool | '*';

export type Fault =
  /** Forward unchanged. */
  | { readonly kind: 'pass' }
  /** Wait this long (real time), then forward. */
  | { readonly kind: 'latency'; readonly ms: number }
  /** Answer with this status and body without asking upstream (a load balancer's 502/503 page). */
  | { readonly kind: 'status'; readonly status: number; readonly body?: string; readonly contentType?: string }
  /** An AWS JSON error, `{"__type","message"}`, as Cognito sends throttling (400) or internal errors (500). */
  | { readonly kind: 'aws-error'; readonly type: string; readonly message?: string; readonly status?: number }
  /** Read the request, then reset the connection (the client sees ECONNRESET). */
  | { readonly kind: 'reset' }
  /** Accept and read the request, never answer (until `releaseHung()` or `close()`). */
  | { readonly kind: 'hang' }
  /**
   * Forward, then replace upstream's JSON answer by what `rewrite` returns (or resolves to):
   * an object is sent as JSON, a string as is (non-JSON). Status and headers stay upstream's.
   * `request` is the JSON the client sent (what a test checks the client sent); until
   * `rewrite` settles the client waits, so a test can change the world in between.
   */
  | { readonly kind: 'rewrite'; readonly rewrite: (body: Record<string, unknown>, request: Record<string, unknown>) => unknown };

export interface ProxiedRequest {
  /** X-Amz-Target, e.g. `AWSCognitoIdentityService.GetId`. */
  readonly target: string;
  readonly operation: string;
  readonly pool: Pool;
  /** On the proxy's clock (the test's fake clock when it has one). */
  readonly at: number;
  readonly fault: Fault['kind'];
}

export interface FaultProxyOptions {
  readonly userPoolUrl: string;
  readonly identityPoolUrl: string;
  /** The clock `log` times are read from. Default: Date.now. */
  readonly now?: () => number;
  /** Called for every request as it arrives, before any fault applies (also settable later as `proxy.onRequest`). */
  readonly onRequest?: (request: ProxiedRequest) => void;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: give it to both `endpoints` of the profile. */
  readonly url: string;
  /** Requests per X-Amz-Target, whatever their fate. */
  readonly calls: Readonly<Record<string, number>>;
  readonly log: readonly ProxiedRequest[];
  /** Requests held by a `hang` fault right now. */
  readonly hung: number;
  /** Requests being handled right now (forwarded, delayed or hung). */
  readonly inFlight: number;
  /** A test's hook, called for every request as it arrives (after the options' own). */
  onRequest: ((request: ProxiedRequest) => void) | undefined;
  /**
   * Applies `fault` to requests in `scope` from now on (`times`: only to the next so many).
   * Rules added later are looked at first. Returns a function that removes the rule.
   */
  inject(scope: FaultScope, fault: Fault, options?: { times?: number }): () => void;
  /** Removes every rule: everything passes through again. Hung requests stay hung. */
  clear(): void;
  /** Requests so far whose target is, or ends in, `operation` (optionally since a time). */
  count(operation: FaultScope, since?: number): number;
  /** Resets the connection of every hung request. */
  releaseHung(): void;
  close(): Promise<void>;
}

const IDENTITY_POOL_PREFIX = 'AWSCognitoIdentityService.';
const MAX_BODY_BYTES = 1024 * 1024;
const AWS_JSON = 'application/x-amz-json-1.1';
// Hop-by-hop or length headers: recomputed for whatever body is finally sent.
const DROPPED_RESPONSE_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

interface Rule {
  readonly scope: FaultScope;
  readonly fault: Fault;
  remaining: number;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const now = options.now ?? Date.now;
  const rules: Rule[] = [];
  const calls: Record<string, number> = {};
  const log: ProxiedRequest[] = [];
  const hung = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let inFlight = 0;

  const server: Server = createServer((req, res) => {
    inFlight += 1;
    res.once('close', () => (inFlight -= 1));
    void handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY_BYTES, () => new Error('request body too large for the fault proxy'));
    const target = header(req.headers, 'x-amz-target') ?? '';
    const pool: Pool = target.startsWith(IDENTITY_POOL_PREFIX) ? 'identity-pool' : 'user-pool';
    const operation = target.slice(target.indexOf('.') + 1);
    const rule = rules.find((r) => matches(r.scope, operation, pool));
    const fault = rule?.fault ?? { kind: 'pass' as const };
    if (rule && (rule.remaining -= 1) <= 0) rules.splice(rules.indexOf(rule), 1);
    const entry: ProxiedRequest = { target, operation, pool, at: now(), fault: fault.kind };
    calls[target] = (calls[target] ?? 0) + 1;
    log.push(entry);
    options.onRequest?.(entry);
    proxy.onRequest?.(entry);

    const upstream = pool === 'identity-pool' ? options.identityPoolUrl : options.userPoolUrl;
    switch (fault.kind) {
      case 'pass':
        return relay(res, await forward(upstream, req, body));
      case 'latency':
        await new Promise((resolve) => setTimeout(resolve, fault.ms));
        return relay(res, await forward(upstream, req, body));
      case 'status':
        return answer(res, fault.status, fault.body ?? '<html><body><h1>503 Service Unavailable</h1></body></html>', fault.contentType ?? 'text/html');
      case 'aws-error':
        return answer(res, fault.status ?? 400, JSON.stringify({ __type: fault.type, message: fault.message ?? `Injected ${fault.type}.` }), AWS_JSON);
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'hang':
        hung.add(res);
        res.once('close', () => hung.delete(res));
        return;
      case 'rewrite': {
        const upstreamAnswer = await forward(upstream, req, body);
        const sent = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
        const replaced: unknown = await fault.rewrite(JSON.parse(upstreamAnswer.body.toString('utf8')) as Record<string, unknown>, sent);
        const text = typeof replaced === 'string' ? replaced : JSON.stringify(replaced);
        return relay(res, { ...upstreamAnswer, body: Buffer.from(text, 'utf8') });
      }
    }
  }

  const address = await listen(server, '127.0.0.1', 0);
  const proxy: FaultProxy = {
    url: address.url,
    onRequest: undefined,
    calls,
    log,
    get hung() {
      return hung.size;
    },
    get inFlight() {
      return inFlight;
    },
    inject(scope, fault, { times = Infinity } = {}) {
      const rule: Rule = { scope, fault, remaining: times };
      rules.unshift(rule);
      return () => {
        const index = rules.indexOf(rule);
        if (index !== -1) rules.splice(index, 1);
      };
    },
    clear() {
      rules.splice(0);
    },
    count(operation, since = -Infinity) {
      return log.filter((r) => r.at >= since && matches(operation, r.operation, r.pool)).length;
    },
    releaseHung() {
      for (const res of hung) res.socket?.resetAndDestroy();
      hung.clear();
    },
    async close() {
      rules.splice(0);
      for (const socket of sockets) socket.destroy();
      await closeServer(server);
    },
  };
  return proxy;
}

function matches(scope: FaultScope, operation: string, pool: Pool): boolean {
  return scope === '*' || scope === pool || scope === operation;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

function forward(upstream: string, req: IncomingMessage, body: Buffer): Promise<UpstreamAnswer> {
  const url = new URL(req.url ?? '/', upstream);
  const headers = { ...req.headers, host: url.host, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  // No compression: a `rewrite` fault has to read the answer.
  delete headers['accept-encoding'];
  return new Promise((resolve, reject) => {
    const out = httpRequest(url, { method: req.method, headers }, (upstreamRes) => {
      const chunks: Buffer[] = [];
      upstreamRes.on('data', (chunk: Buffer) => chunks.push(chunk));
      upstreamRes.on('end', () => resolve({ status: upstreamRes.statusCode ?? 502, headers: upstreamRes.headers, body: Buffer.concat(chunks) }));
      upstreamRes.on('error', reject);
    });
    out.on('error', reject);
    out.end(body);
  });
}

function relay(res: ServerResponse, answer: UpstreamAnswer): void {
  if (res.destroyed) return;
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined && !DROPPED_RESPONSE_HEADERS.has(name)) res.setHeader(name, value);
  }
  res.writeHead(answer.status, { 'content-length': answer.body.length });
  res.end(answer.body);
}

function answer(res: ServerResponse, status: number, body: string, contentType: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': randomUUID() });
  res.end(body);
}
