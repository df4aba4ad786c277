import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openCommandSocket } from '../../src/app/command-socket.js';
import { createLogger } from '../../src/log/create-logger.js';
import { LogCapture } from '../support/session-harness.js';

/** A private directory, an HTTP server (not listening elsewhere) that answers with what it was asked, and a log. */
function setup(t: Test): { dir: string; http: Server; logs: LogCapture; logger: ReturnType<typeof createLogger> } {
  const dir = mkdtempSync(join(tmpdir(), 'cb-command-socket-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const http = createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, authorization: req.headers.authorization })));
  t.teardown(() => http.closeAllConnections());
  const logs = new LogCapture();
  return { dir, http, logs, logger: createLogger({ level: 'info', destination: logs }) };
}

function get(socketPath: string, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    request({ socketPath, path, agent: false, headers: { authorization: 'the-token' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject).end();
  });
}

t.test('the HTTP server answers on the socket, which only this user may use, and which goes when it closes', async (t) => {
  const { dir, http, logger } = setup(t);
  const path = join(dir, 'daemon.sock');
  const socket = await openCommandSocket(path, http, logger);
  t.equal(socket?.path, path);
  t.same(await get(path, '/token'), { status: 200, body: { url: '/token', authorization: 'the-token' } }, 'the same server, its routes and headers');
  const mode = lstatSync(path);
  t.ok(mode.isSocket());
  t.equal(mode.mode & 0o777, 0o600, 'connecting takes write permission: this user alone');
  await socket?.close();
  t.notOk(existsSync(path), 'closing removes the socket file');
});

t.test('a socket left by a daemon that died is replaced; anything else there is left alone', async (t) => {
  const { dir, http, logger, logs } = setup(t);
  const path = join(dir, 'daemon.sock');
  // A listener killed with SIGKILL leaves its socket file behind.
  spawnSync(process.execPath, ['-e', "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", path]);
  t.ok(lstatSync(path).isSocket(), 'the stale socket is there');
  const socket = await openCommandSocket(path, http, logger);
  t.ok(socket, 'listens in its place');
  t.equal((await get(path, '/x')).status, 200);
  await socket?.close();

  writeFileSync(path, 'not a socket');
  t.equal(await openCommandSocket(path, http, logger), undefined, 'a file: none');
  t.ok(lstatSync(path).isFile(), 'the file is still there');
  t.match(logs.lines.at(-1), { level: 40, path, msg: /not a socket[^]*loopback TCP/ });
});

t.test("another daemon's live socket is left to it: two serves of one state directory", async (t) => {
  const { dir, http, logger, logs } = setup(t);
  const path = join(dir, 'daemon.sock');
  const first = await openCommandSocket(path, http, logger);
  t.ok(first);
  const other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"other":true}'));
  t.equal(await openCommandSocket(path, other, logger), undefined, 'the second gets none');
  t.match(logs.lines.at(-1), { level: 30, path, msg: /another daemon listens[^]*loopback TCP/ });
  t.match(await get(path, '/x'), { status: 200, body: { url: '/x' } }, 'the first still answers there');
  await first?.close();
  t.notOk(existsSync(path), 'and removes it when it stops');
});

t.test('none where there can be none: Windows, a path too long for a socket, a directory that is not there', async (t) => {
  const { dir, http, logger, logs } = setup(t);
  t.equal(await openCommandSocket(join(dir, 'daemon.sock'), http, logger, 'win32'), undefined, 'Windows');
  t.notOk(existsSync(join(dir, 'daemon.sock')));
  const deep = join(dir, 'd'.repeat(100));
  mkdirSync(deep);
  t.equal(await openCommandSocket(join(deep, 'daemon.sock'), http, logger), undefined, 'longer than sun_path takes');
  t.match(logs.lines.at(-1), { level: 30, msg: /too long for a Unix socket/ });
  t.equal(await openCommandSocket(join(dir, 'missing', 'daemon.sock'), http, logger), undefined, 'listen fails: logged, not thrown');
  t.match(logs.lines.at(-1), { level: 40, msg: /could not listen on the daemon's command socket/ });
});
