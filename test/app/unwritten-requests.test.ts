import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { UnwrittenRequests } from '../../src/app/unwritten-requests.js';
import { closeServer, listen } from '../../testkit/http.js';

/** A server that has each request whole, then holds its answer until told. */
async function holdingServer(t: Test) {
  const received: string[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks).toString());
      held.push(res);
    });
  });
  // "localhost": the request waits for a DNS lookup before it connects, as one to Cognito does.
  const { url } = await listen(server, '127.0.0.1', 0);
  const port = new URL(url).port;
  t.teardown(async () => {
    for (const res of held) res.end('ok');
    await closeServer(server);
  });
  return { base: `http://localhost:${port}`, received };
}

function watching(t: Test): UnwrittenRequests {
  const unwritten = new UnwrittenRequests();
  unwritten.watch();
  t.teardown(() => unwritten.stop());
  return unwritten;
}

t.test('none begun: drained at once', async (t) => {
  await watching(t).drained();
  t.pass('resolved with nothing to write');
});

t.test('Node\'s HTTP client: drained once the request is written, before any answer', async (t) => {
  const server = await holdingServer(t);
  const unwritten = watching(t);
  const req = request(`${server.base}/x`, { method: 'POST' });
  req.on('error', () => undefined);
  req.end('refresh-request-body');
  let drained = false;
  const waited = unwritten.drained().then(() => (drained = true));
  await new Promise(setImmediate);
  t.notOk(drained, 'not while the host is looked up and the socket connects');
  await waited;
  t.ok(req.writableFinished, 'the request was handed to the operating system');
  t.notOk(req.destroyed, 'and is still waiting for its answer');
});

t.test('fetch: drained once the request is written, before any answer', async (t) => {
  const server = await holdingServer(t);
  const unwritten = watching(t);
  const answered = fetch(`${server.base}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token' }) });
  answered.catch(() => undefined);
  await unwritten.drained();
  let settled = false;
  void answered.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(settled, 'the answer is still held by the server');
  t.same(server.received, ['grant_type=refresh_token'], 'which has the whole request');
});

t.test('a request that fails is not waited for, and its own error handler still gets the failure', async (t) => {
  const closed = createServer();
  const { url } = await listen(closed, '127.0.0.1', 0);
  await closeServer(closed);
  const unwritten = watching(t);
  const req = request(`${url}/x`, { method: 'POST' });
  const failed = new Promise<NodeJS.ErrnoException>((resolve) => req.on('error', resolve));
  req.end('x');
  await unwritten.drained();
  t.equal((await failed).code, 'ECONNREFUSED');
});

t.test('stop(): a waiter is let go, and requests begun after it are not watched', async (t) => {
  // A fetch that never gets written, told on the channel undici tells.
  const begin = () => diagnosticsChannel.channel('undici:request:create').publish({ request: {} });
  const unwritten = new UnwrittenRequests();
  unwritten.watch();
  begin();
  let letGo = false;
  const waiter = unwritten.drained().then(() => (letGo = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(letGo, 'waiting while the request is unwritten');
  unwritten.stop();
  await waiter;
  begin();
  await unwritten.drained();
  t.pass('a request begun after stop() is not waited for');
});
