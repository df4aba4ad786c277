/**
 * One server under test for the throughput benchmark, in a process of its own (pinned to
 * one core by the runner). Prints `READY {"url":...}` on stdout once it serves; stops on
 * SIGTERM (normally, so `--cpu-prof` can write its profile).
 *
 *   node dist/bench/servers/target-server.js --kind broker|node-http|fastify --expires-at MS
 *
 * The token comes in BENCH_TOKEN (not argv). All three serve the same bytes with the same
 * token check (src/server/endpoint-auth.ts: the presented value's SHA-256 looked up among the
 * known tokens'):
 *   broker     the real app: createDaemon with a ready session (Cognito in memory)
 *   node-http  a bare node:http server
 *   fastify    a bare fastify route
 */
import { createServer, type Server } from 'node:http';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { systemClock } from '../../src/broker/clock.js';
import { EndpointAuth } from '../../src/server/endpoint-auth.js';
import { listen } from '../../testkit/http.js';
import { MemoryCognito } from '../../testkit/memory-cognito.js';
import { BENCH_IDENTITY_ID, benchCredentials, credentialsJson } from '../support/bench-credentials.js';
import { startMemoryDaemon, waitUntilReady } from '../support/memory-daemon.js';
import { SERVER_KINDS, type ServerKind } from './server-kinds.js';

const JSON_TYPE = 'application/json';
const UNAUTHORIZED = JSON.stringify({ Code: 'BRK_ERR_UNAUTHORIZED', Message: 'Missing or wrong Authorization header.' });
const NOT_FOUND = JSON.stringify({ Code: 'BRK_ERR_NOT_FOUND', Message: 'No such route.' });

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { kind: { type: 'string' }, 'expires-at': { type: 'string' } }, strict: true });
  const kind = values.kind as ServerKind;
  const expiresAt = Number(values['expires-at']);
  const token = process.env.BENCH_TOKEN;
  if (!SERVER_KINDS.includes(kind) || !Number.isFinite(expiresAt) || !token) {
    throw new Error('usage: BENCH_TOKEN=... target-server.js --kind broker|node-http|fastify --expires-at EPOCH_MS');
  }
  const { url, close } = await start(kind, token, expiresAt);
  process.stdout.write(`READY ${JSON.stringify({ url, pid: process.pid })}\n`);
  const stop = () => void close().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function start(kind: ServerKind, token: string, expiresAt: number): Promise<{ url: string; close(): Promise<void> }> {
  if (kind === 'broker') {
    // A fixed expiry and serial: every set byte-identical, as the baselines serve.
    const upstream = new MemoryCognito({
      clock: systemClock,
      credentialsExpireAt: expiresAt,
      identityId: BENCH_IDENTITY_ID,
      credentials: (issuedAt, expires) => benchCredentials(issuedAt, expires),
    });
    const { daemon, url } = await startMemoryDaemon({ upstream, masterToken: token });
    await waitUntilReady(daemon);
    return { url, close: () => daemon.close() };
  }
  const body = credentialsJson(benchCredentials(Date.now(), expiresAt));
  const check = new EndpointAuth(token, ['default']);
  if (kind === 'node-http') return startNodeHttp(body, check);
  return startFastify(body, check);
}

async function startNodeHttp(body: string, check: EndpointAuth): Promise<{ url: string; close(): Promise<void> }> {
  const length = Buffer.byteLength(body);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/credentials') {
      res.writeHead(404, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(NOT_FOUND) }).end(NOT_FOUND);
    } else if (!check.scopeOf(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(UNAUTHORIZED) }).end(UNAUTHORIZED);
    } else {
      res.writeHead(200, { 'content-type': JSON_TYPE, 'cache-control': 'no-store', 'content-length': length }).end(body);
    }
  });
  const { url } = await listen(server, '127.0.0.1', 0);
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function startFastify(body: string, check: EndpointAuth): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/credentials', async (request, reply) => {
    if (!check.scopeOf(request.headers.authorization)) return reply.code(401).type(JSON_TYPE).send(UNAUTHORIZED);
    return reply.type(JSON_TYPE).header('cache-control', 'no-store').send(body);
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => app.close() };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
