/**
 * HTTP fuzzing against the real app on a real socket (127.0.0.1 only, bounded loops):
 * random methods, request targets, headers and bodies, then slow clients. The server must
 * stay up, answer 4xx (or close the connection where Node's parser refuses the bytes), never
 * serve a secret to a request that lacks the token, keep /healthz answering, and keep its
 * memory bounded.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../../src/server/build-app.js';
import type { FuzzServerReport } from '../support/fuzz-server.js';
import { TOKEN } from '../support/listening-app.js';
import { seededRandom } from '../support/seeded-random.js';
import { rawRequest, type RawResponse } from '../support/raw-http.js';
import { compiledPath } from '../support/paths.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const ROUNDS = 2;
const REQUESTS_PER_ROUND = 700;
const CONCURRENCY = 48;
/** After the first round has warmed everything up, the second may grow the heap by at most this. */
const HEAP_GROWTH_MAX_BYTES = 8 * 1024 * 1024;
const RSS_GROWTH_MAX_BYTES = 48 * 1024 * 1024;
/** Generous: the machine is shared; the point is "closed", not "closed on the dot". */
const CLOSE_MARGIN_MS = 2_000;


interface FuzzRequest {
  readonly bytes: Buffer;
  readonly head: boolean;
  /** Carries exactly one Authorization header with the right token, our Host once, no browser marker. */
  readonly mayGetSecrets: boolean;
  readonly summary: string;
}

class Generator {
  constructor(private readonly random: () => number, private readonly port: number) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  randomText(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-._~'): string {
    return Array.from({ length }, () => alphabet[Math.floor(this.random() * alphabet.length)]).join('');
  }

  method(hostile: boolean): string {
    const valid = ['GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND'];
    return hostile ? this.pick([...valid, 'CONNECT', 'get', 'G\u0000T', 'GET\t', 'ÄÖÜ', 'M'.repeat(this.int(20, 2000)), this.randomText(6).toUpperCase()]) : this.pick(valid);
  }

  target(): string {
    return this.pick([
      '/credentials', '/token', '/healthz', '/profiles/default/credentials', '/profiles/default/token', '/',
      `/profiles/${this.randomText(this.int(1, 80))}/credentials`, `/profiles/${this.randomText(this.int(101, 300))}/token`,
      `/${'a'.repeat(this.int(1_000, 7_000))}`, `/credentials?${'q'.repeat(this.int(100, 6_000))}=1`, `/${'x'.repeat(this.int(9_000, 40_000))}`,
      '/%2e%2e/%2e%2e/etc/passwd', '/../../../etc/passwd', '/profiles/%2e%2e/credentials', '/profiles/..%2fcredentials', '/..;/credentials',
      '/profiles/default/../../credentials', '/credentials%00', '/credentials\u0000', '/%zz', '/%', '/%ff%fe', '/profiles/%F0%9F%92%A9/token',
      '/profiles/ü/credentials', '/profiles/\uD83D\uDCA9/token', '/profiles/__proto__/credentials', '/profiles/constructor/token', '/profiles/toString/credentials',
      '//credentials', '/credentials/', '/CREDENTIALS', '/credentials#frag', '*', `http://evil.example/credentials`, `http://127.0.0.1:${this.port}/credentials`,
      '/credentials?__proto__[admin]=1&constructor[prototype][x]=1', '\\credentials', '/ credentials', '/credentials;jsessionid=1', '', '/profiles//credentials',
      '/profiles/default/credentials/../token', `/profiles/${encodeURIComponent('a/b')}/token`, '/healthz?x=%00',
    ]);
  }

  version(hostile: boolean): string {
    if (!hostile) return this.chance(0.9) ? 'HTTP/1.1' : 'HTTP/1.0';
    return this.chance(0.7) ? 'HTTP/1.1' : this.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1x', '', 'http/1.1', 'HTTP/1.1 extra']);
  }

  /**
   * Half the requests are well-formed HTTP with hostile content (routes, hosts, tokens,
   * markers, bodies) and reach the app; half also break the protocol and mostly stop at
   * Node's parser.
   */
  request(): FuzzRequest {
    const hostile = this.chance(0.5);
    const method = this.method(hostile);
    const target = this.target();
    const version = this.version(hostile);
    const lines: string[] = [];
    const notes: string[] = [];

    const ourHost = `127.0.0.1:${this.port}`;
    const hostKind = this.pick(['ours', 'ours', 'ours', 'ours', 'foreign', 'none', 'duplicate', ...(hostile ? ['weird'] : [])]);
    if (hostKind === 'ours') lines.push(`Host: ${this.pick([ourHost, `localhost:${this.port}`])}`);
    else if (hostKind === 'foreign') lines.push(`Host: ${this.pick(['evil.example', `evil.example:${this.port}`, `127.0.0.1:${this.port + 1}`])}`);
    else if (hostKind === 'duplicate') lines.push(`Host: ${ourHost}`, `Host: ${this.pick([ourHost, 'evil.example'])}`);
    else if (hostKind === 'weird') lines.push(`Host: ${this.pick(['', ' ', '\u0001', `${ourHost}\u0000`, 'h'.repeat(3000), '[::1', '127.0.0.1:99999999999'])}`);
    notes.push(`host:${hostKind}`);

    const authKind = this.pick(['valid', 'valid', 'valid', 'wrong', 'wrong', 'none', 'duplicate', 'bearer', ...(hostile ? ['huge', 'control'] : [])]);
    if (authKind === 'valid') lines.push(`Authorization: ${TOKEN}`);
    else if (authKind === 'wrong') lines.push(`Authorization: ${this.randomText(this.int(0, 100))}`);
    else if (authKind === 'duplicate') lines.push(`Authorization: ${TOKEN}`, `Authorization: ${this.pick([TOKEN, 'wrong'])}`);
    else if (authKind === 'huge') lines.push(`Authorization: ${'A'.repeat(this.int(4_000, 30_000))}`);
    else if (authKind === 'control') lines.push(`Authorization: ${TOKEN}${this.pick(['\u0000', '\u0007', '\u007f', '\r', ' x'])}`);
    else if (authKind === 'bearer') lines.push(`Authorization: Bearer ${TOKEN}`);
    notes.push(`auth:${authKind}`);

    let body = Buffer.alloc(0);
    let framing: 'none' | 'length' | 'chunked' | 'both' | 'bad-length' = 'none';
    for (let i = this.int(0, 4); i > 0; i--) {
      const kind = this.pick(['marker', 'body', 'chunked', 'expect', 'json', 'misc', ...(hostile ? ['oversize', 'many', 'control', 'fold', 'badname', 'both', 'badlength', 'upgrade'] : [])]);
      notes.push(kind);
      switch (kind) {
        case 'marker': lines.push(this.pick(['Origin: https://evil.example', 'Referer: http://x/', 'Sec-Fetch-Site: cross-site', 'Sec-Fetch-Dest: image', 'Sec-Fetch-User: ?1', 'Sec-Fetch-Mode: cors'])); break;
        case 'oversize': lines.push(`X-Big: ${'b'.repeat(this.int(9_000, 70_000))}`); break;
        case 'many': for (let n = this.int(50, 600); n > 0; n--) lines.push(`X-H${n}: ${n}`); break;
        case 'control': lines.push(`X-Ctl: a${this.pick(['\u0000', '\u0001', '\u001b[2J', '\u007f', '\r', '\n\n', 'ÿ'])}b`); break;
        case 'fold': lines.push('X-Fold: a', ' continued'); break;
        case 'badname': lines.push(this.pick(['Bad Name: x', 'Bad:Name: x', ': empty', 'Ü: x', 'X-A : x', 'NoColon'])); break;
        case 'body': framing = 'length'; body = Buffer.alloc(this.pick([10, 1_000, 1_025, 100_000, 1_000_000]), this.randomText(31)); break;
        case 'chunked': framing = 'chunked'; break;
        case 'both': framing = 'both'; break;
        case 'badlength': framing = 'bad-length'; break;
        case 'expect': lines.push('Expect: 100-continue'); break;
        case 'upgrade': lines.push(this.pick(['Connection: Upgrade', 'Upgrade: websocket', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'])); break;
        case 'json': lines.push('Content-Type: application/json'); body = Buffer.from('{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}'); framing = 'length'; break;
        case 'misc': lines.push(this.pick(['X-Forwarded-For: 10.0.0.1', 'X-Forwarded-Host: evil.example', 'Forwarded: host=evil.example', `Cookie: ${'c=1; '.repeat(this.int(10, 3000))}`, 'Content-Type: text/plain; charset=utf-7', 'Accept-Encoding: gzip, br', 'Range: bytes=0-1'])); break;
      }
    }
    if (framing === 'length') lines.push(`Content-Length: ${body.length}`);
    if (framing === 'chunked' || framing === 'both') {
      lines.push('Transfer-Encoding: chunked');
      if (framing === 'both') lines.push(`Content-Length: ${this.int(0, 50)}`);
      const chunks = Array.from({ length: this.int(1, 5) }, () => this.randomText(this.int(1, 3_000)));
      const bad = hostile && this.chance(0.3);
      body = Buffer.from(`${chunks.map((c) => `${bad ? this.pick(['FFFFFFFFFFFFFFFF', 'zz', '-1', '']) : c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`);
    }
    if (framing === 'bad-length') lines.push(`Content-Length: ${this.pick(['-1', 'abc', '1, 2', '99999999999999999999', ' 5', '0x10'])}`);
    lines.push('Connection: close');

    const bytes = Buffer.concat([Buffer.from(`${method} ${target} ${version}\r\n${lines.join('\r\n')}\r\n\r\n`, 'utf8'), body]);
    const markers = lines.some((l) => /^(origin|referer|sec-fetch-(site|dest|user)):/i.test(l));
    return {
      bytes,
      head: method === 'HEAD',
      mayGetSecrets: authKind === 'valid' && (hostKind === 'ours') && !markers,
      summary: `${method.slice(0, 20)} ${target.slice(0, 60)} ${version} [${notes.join(',')}] ${bytes.length} B`,
    };
  }
}

interface Tally {
  total: number;
  byStatus: Record<string, number>;
  problems: string[];
}

function judge(request: FuzzRequest, response: RawResponse, tally: Tally): void {
  tally.total += 1;
  const key = response.status === undefined ? response.end : String(response.status);
  tally.byStatus[key] = (tally.byStatus[key] ?? 0) + 1;
  const problem = (what: string) => tally.problems.length < 20 && tally.problems.push(`${what}: ${request.summary}`);
  if (response.status !== undefined && response.status >= 500) problem(`answered ${response.status}`);
  if (response.status !== undefined && response.status >= 400 && !request.head) {
    let code: unknown;
    try {
      code = (JSON.parse(response.body) as { Code?: unknown }).Code;
    } catch {
      code = undefined;
    }
    if (response.headers['content-type'] !== 'application/json' || typeof code !== 'string') problem(`a ${response.status} without our JSON {Code, Message}`);
  }
  if (response.status === undefined && response.end === 'timeout') problem('neither answered nor closed');
  if (Object.keys(response.headers).some((h) => h.startsWith('access-control-'))) problem('CORS header');
  if (/SecretAccessKey|IdToken/.test(response.body) && !request.mayGetSecrets) problem('secrets served without the token, our Host, or with browser markers');
  if (response.status !== undefined && response.status >= 200 && response.status < 300 && !request.mayGetSecrets && !/\/healthz/.test(request.summary)) problem(`answered ${response.status}`);
}

async function fuzzRound(gen: Generator, port: number, count: number, tally: Tally): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      const request = gen.request();
      judge(request, await rawRequest(port, request.bytes, { head: request.head, timeoutMs: REQUEST_TIMEOUT_MS + CLOSE_MARGIN_MS }), tally);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function healthz(port: number): Promise<RawResponse> {
  return rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`, { timeoutMs: 2_000 });
}

async function startServer(t: Test): Promise<{ child: ChildProcess; port: number; report: () => Promise<FuzzServerReport> }> {
  const script = compiledPath('test/support/fuzz-server.ts');
  const child = fork(script, [], { execArgv: [...process.execArgv, '--expose-gc'], env: { ...process.env, COGNITO_BROKER_FUZZ_SERVER: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  const report = async () => {
    child.send('memory');
    const [reply] = (await once(child, 'message')) as [FuzzServerReport];
    return reply;
  };
  return { child, port: message.port, report };
}

/** One request on a keep-alive connection, then silence: how long until the server closes it. */
async function keepAliveThenIdle(port: number): Promise<{ received: string; ms: number }> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let received = '';
  let answeredAt = performance.now();
  socket.on('data', (d: Buffer) => {
    received += d.toString();
    answeredAt = performance.now();
  });
  socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await once(socket, 'close');
  return { received, ms: performance.now() - answeredAt };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

// One server for both tests: it starts in a few seconds (TypeScript) and must survive both.
const server = await startServer(t);

t.test(`fuzz: ${ROUNDS} × ${REQUESTS_PER_ROUND} random requests; the server stays up, answers 4xx or closes, memory stays bounded`, async (t) => {
  const { child, port, report } = server;
  const gen = new Generator(seededRandom(SEED), port);
  t.comment(`seed ${SEED} (FUZZ_SEED=${SEED} to replay)`);
  const tally: Tally = { total: 0, byStatus: {}, problems: [] };
  const reports: FuzzServerReport[] = [await report()];
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    await fuzzRound(gen, port, REQUESTS_PER_ROUND, tally);
    const health = await healthz(port);
    t.equal(health.status, 200, `/healthz answers after round ${round + 1}`);
    t.ok(health.ms < 1_000, `within a second (${health.ms.toFixed(0)} ms)`);
    reports.push(await report());
  }
  t.equal(child.exitCode, null, 'the server process is still running');
  t.same(tally.problems, [], 'no 5xx, no hang, no CORS header, no secret without the token');
  t.same(reports.flatMap((r) => r.errors), [], 'nothing logged at error level (no "unexpected error")');
  const answered4xx = Object.entries(tally.byStatus).filter(([k]) => /^4/.test(k)).reduce((n, [, v]) => n + v, 0);
  t.ok(answered4xx > tally.total / 2, `most were answered 4xx (${answered4xx} of ${tally.total})`);

  const [initial, warm, last] = reports as [FuzzServerReport, FuzzServerReport, FuzzServerReport];
  t.ok(last.heapUsed - warm.heapUsed < HEAP_GROWTH_MAX_BYTES, `heap after GC: ${mb(initial.heapUsed)} at start, ${mb(warm.heapUsed)} after round 1, ${mb(last.heapUsed)} after round 2`);
  t.ok(last.rss - warm.rss < RSS_GROWTH_MAX_BYTES, `RSS: ${mb(initial.rss)} at start, ${mb(warm.rss)} after round 1, ${mb(last.rss)} after round 2`);
  t.comment(`${tally.total} requests in ${((performance.now() - started) / 1000).toFixed(1)} s; outcomes ${JSON.stringify(tally.byStatus)}`);
  t.comment(`memory: heap ${mb(initial.heapUsed)} → ${mb(warm.heapUsed)} → ${mb(last.heapUsed)}; RSS ${mb(initial.rss)} → ${mb(warm.rss)} → ${mb(last.rss)}`);
});

t.test('slow clients cannot hold the server: trickled headers, unfinished bodies, silent and idle keep-alive sockets are cut off', async (t) => {
  const { child, port, report } = server;
  const host = `Host: 127.0.0.1:${port}`;
  const trickle = (first: string, piece: string, everyMs: number) => async (socket: Socket) => {
    socket.write(first);
    while (!socket.destroyed) {
      await new Promise((resolve) => setTimeout(resolve, everyMs));
      if (!socket.destroyed) socket.write(piece);
    }
  };
  const started = performance.now();
  const idleKeepAlive = keepAliveThenIdle(port);
  const slow = [
    // Slowloris: a header line every 200 ms, forever.
    ...Array.from({ length: 30 }, () => rawRequest(port, '', { timeoutMs: 20_000, write: trickle(`GET /credentials HTTP/1.1\r\n${host}\r\n`, 'X-Slow: 1\r\n', 200) })),
    // One byte at a time of the request line.
    ...Array.from({ length: 10 }, () => rawRequest(port, '', { timeoutMs: 20_000, write: trickle('G', 'E', 300) })),
    // A body that never finishes, with and without the token.
    ...Array.from({ length: 10 }, (_, i) => rawRequest(port, `POST /credentials HTTP/1.1\r\n${host}\r\n${i % 2 ? `Authorization: ${TOKEN}\r\n` : ''}Content-Length: 100000\r\n\r\n${'x'.repeat(100)}`, { timeoutMs: 20_000 })),
    // A chunked body trickled forever.
    ...Array.from({ length: 10 }, () => rawRequest(port, '', { timeoutMs: 20_000, write: trickle(`POST /token HTTP/1.1\r\n${host}\r\nAuthorization: ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n`, '1\r\nx\r\n', 200) })),
    // Connected, silent.
    ...Array.from({ length: 20 }, () => rawRequest(port, '', { timeoutMs: 20_000, write: () => undefined })),
  ];
  // Meanwhile, the server answers others at once.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const during = await healthz(port);
  t.equal(during.status, 200, '/healthz answers while 80 slow clients are connected');
  t.ok(during.ms < 500, `in ${during.ms.toFixed(0)} ms`);
  const results = await Promise.all(slow);
  const worst = Math.max(...results.map((r) => r.ms));
  t.ok(results.every((r) => r.end !== 'timeout'), 'every slow client was cut off by the server');
  t.ok(worst < REQUEST_TIMEOUT_MS + CLOSE_MARGIN_MS, `the last one after ${worst.toFixed(0)} ms (headers timeout ${HEADERS_TIMEOUT_MS} ms, request timeout ${REQUEST_TIMEOUT_MS} ms)`);
  const slowloris = results.slice(0, 30);
  t.ok(slowloris.every((r) => r.ms < HEADERS_TIMEOUT_MS + CLOSE_MARGIN_MS), `trickled headers cut off after at most ${Math.max(...slowloris.map((r) => r.ms)).toFixed(0)} ms`);
  t.ok(results.every((r) => r.status === undefined || (r.status >= 400 && r.status < 500)), `answers, if any, are 4xx: ${[...new Set(results.map((r) => r.status ?? r.end))].join(', ')}`);
  const keptAlive = await idleKeepAlive;
  t.match(keptAlive.received, /^HTTP\/1\.1 200/, 'a keep-alive client is answered');
  t.ok(keptAlive.ms >= KEEP_ALIVE_TIMEOUT_MS - 500 && keptAlive.ms < KEEP_ALIVE_TIMEOUT_MS + CLOSE_MARGIN_MS, `and its idle connection closed after ${keptAlive.ms.toFixed(0)} ms (keep-alive timeout ${KEEP_ALIVE_TIMEOUT_MS} ms)`);
  t.equal(child.exitCode, null, 'the server is still running');
  const after = await healthz(port);
  t.equal(after.status, 200, '/healthz answers after');
  t.same((await report()).errors, [], 'nothing logged at error level');
  t.comment(`slow clients: all ${results.length} cut off within ${worst.toFixed(0)} ms; idle keep-alive closed after ${keptAlive.ms.toFixed(0)} ms; total ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
