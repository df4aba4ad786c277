/**
 * DNS rebinding and browser requests, over real sockets: what a hostile web page can make
 * the user's browser send to 127.0.0.1, byte for byte.
 */
import t, { type Test } from 'tap';
import { hostNamesFor } from '../../src/server/request-guard.js';
import { listenApp, TOKEN, type ListeningApp } from '../support/listening-app.js';
import { getRequest, rawRequest, type RawResponse } from '../support/raw-http.js';

const AUTH = `Authorization: ${TOKEN}`;

function noCors(t: Test, res: RawResponse, what: string): void {
  const cors = Object.keys(res.headers).filter((name) => name.startsWith('access-control-'));
  t.same(cors, [], `no CORS headers: ${what}`);
}

async function expectCode(t: Test, server: ListeningApp, request: string, status: number, code: string | undefined, what: string): Promise<RawResponse> {
  const res = await rawRequest(server.port, request);
  t.equal(res.status, status, what);
  if (code) t.equal((JSON.parse(res.body) as { Code: string }).Code, code, `${what}: ${code}`);
  if (code) t.equal(res.headers['content-type'], 'application/json', `${what}: JSON error`);
  noCors(t, res, what);
  return res;
}

t.test('the SDK request shape is served: our Host, the token, no browser markers', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST:${server.port}`, `[::1]:${server.port}`]) {
    await expectCode(t, server, getRequest('/credentials', [`Host: ${host}`, AUTH]), 200, undefined, `Host ${host}`);
  }
  await expectCode(t, server, getRequest('/token', [server.host, AUTH, 'Sec-Fetch-Mode: cors', 'User-Agent: node']), 200, undefined, 'Sec-Fetch-Mode alone (Node fetch)');
  // And Node's real fetch(), which sends Sec-Fetch-Mode: cors on its own.
  const viaFetch = await fetch(`http://127.0.0.1:${server.port}/token`, { headers: { authorization: TOKEN } });
  t.equal(viaFetch.status, 200, "Node's fetch is served");
  t.equal([...viaFetch.headers.keys()].filter((k) => k.startsWith('access-control-')).length, 0);
});

t.test('a foreign Host (DNS rebinding) is refused on every route, token or not', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  const p = server.port;
  const hosts = [
    `evil.example:${p}`, 'evil.example', `127.0.0.1.nip.io:${p}`, `localhost.evil.example:${p}`,
    '127.0.0.1', `127.0.0.1:${p + 1}`, `127.0.0.1:${p}@evil.example`, `127.0.0.1:${p}:1`, `[::1]`, `0.0.0.0:${p}`,
    `127.0.0.2:${p}`, `192.0.2.10:${p}`, '',
  ];
  for (const host of hosts) {
    for (const path of ['/credentials', '/token', '/profiles/default/credentials', '/healthz']) {
      await expectCode(t, server, getRequest(path, [`Host: ${host}`, AUTH]), 403, 'BRK_ERR_FORBIDDEN_REQUEST', `Host "${host}" ${path}`);
    }
  }
  t.notMatch(server.logs.raw.join('\n'), TOKEN, 'the token is never logged');
});

t.test('requests carrying any browser marker are refused, even with the token and our Host', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  const markers = [
    'Origin: https://evil.example', 'Origin: null', `Origin: http://127.0.0.1:${server.port}`,
    'Referer: https://evil.example/page', `Referer: http://127.0.0.1:${server.port}/`,
    'Sec-Fetch-Site: cross-site', 'Sec-Fetch-Site: same-origin', 'Sec-Fetch-Site: none',
    'Sec-Fetch-Dest: image', 'Sec-Fetch-Dest: empty', 'Sec-Fetch-User: ?1',
  ];
  for (const marker of markers) {
    for (const path of ['/credentials', '/token', '/healthz', '/nope']) {
      await expectCode(t, server, getRequest(path, [server.host, AUTH, marker]), 403, 'BRK_ERR_FORBIDDEN_REQUEST', `${marker} ${path}`);
    }
  }
  // What a browser's no-cors <img> / form request looks like as a whole.
  const browserLike = getRequest('/credentials', [
    `Host: 127.0.0.1:${server.port}`, 'User-Agent: Mozilla/5.0', 'Accept: image/avif,image/webp,*/*',
    'Sec-Fetch-Dest: image', 'Sec-Fetch-Mode: no-cors', 'Sec-Fetch-Site: cross-site', 'Referer: https://evil.example/',
  ]);
  await expectCode(t, server, browserLike, 403, 'BRK_ERR_FORBIDDEN_REQUEST', 'a browser <img> request');
});

t.test('CORS preflights are refused and no response ever carries CORS headers', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  const preflight = (path: string, extra: string[]) =>
    `OPTIONS ${path} HTTP/1.1\r\n${server.host}\r\n${extra.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`;
  for (const path of ['/credentials', '/token', '/healthz', '/profiles/default/token']) {
    await expectCode(t, server, preflight(path, ['Origin: https://evil.example', 'Access-Control-Request-Method: GET', 'Access-Control-Request-Headers: authorization']), 403, 'BRK_ERR_FORBIDDEN_REQUEST', `preflight ${path}`);
    // Without browser markers an OPTIONS is simply not a route: 401 without the token (only GET /healthz is public), 404 with it.
    await expectCode(t, server, preflight(path, []), 401, 'BRK_ERR_UNAUTHORIZED', `bare OPTIONS ${path}`);
    await expectCode(t, server, preflight(path, [AUTH]), 404, 'BRK_ERR_ROUTE_NOT_FOUND', `OPTIONS ${path} with the token`);
  }
});

t.test('a request without Host is refused, HTTP/1.0 or 1.1', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  for (const path of ['/credentials', '/healthz']) {
    await expectCode(t, server, `GET ${path} HTTP/1.0\r\n${AUTH}\r\n\r\n`, 403, 'BRK_ERR_FORBIDDEN_REQUEST', `HTTP/1.0 without Host ${path}`);
    await expectCode(t, server, `GET ${path} HTTP/1.1\r\n${AUTH}\r\nConnection: close\r\n\r\n`, 403, 'BRK_ERR_FORBIDDEN_REQUEST', `HTTP/1.1 without Host ${path}`);
  }
  // HTTP/1.0 with our Host is fine (some old tools speak it).
  await expectCode(t, server, `GET /credentials HTTP/1.0\r\n${server.host}\r\n${AUTH}\r\n\r\n`, 200, undefined, 'HTTP/1.0 with Host');
});

t.test('duplicated Host or Authorization headers are refused', async (t) => {
  const server = await listenApp();
  t.teardown(() => server.close());
  const cases: [string, string[]][] = [
    ['ours then foreign Host', [server.host, 'Host: evil.example', AUTH]],
    ['foreign then ours Host', ['Host: evil.example', server.host, AUTH]],
    ['two right tokens', [server.host, AUTH, AUTH]],
    ['right then wrong token', [server.host, AUTH, 'Authorization: wrong']],
    ['wrong then right token', [server.host, 'authorization: wrong', AUTH]],
  ];
  for (const [what, lines] of cases) {
    const res = await rawRequest(server.port, getRequest('/credentials', lines));
    t.ok(res.status === 400 || res.status === 403, `${what}: ${res.status}`);
    t.notOk(res.body.includes('SecretAccessKey'), `${what}: no credentials`);
  }
});

t.test('with server.allowNonLoopback, Host may name the configured address, and the token is still required', async (t) => {
  // The socket stays on 127.0.0.1 (tests never listen beyond loopback); the guard is built
  // for a configured non-loopback server.host, exactly as createDaemon builds it.
  const server = await listenApp({ host: '192.0.2.10' });
  t.teardown(() => server.close());
  const host = `Host: 192.0.2.10:${server.port}`;
  await expectCode(t, server, getRequest('/credentials', [host, AUTH]), 200, undefined, 'configured host with the token');
  await expectCode(t, server, getRequest('/credentials', [host]), 401, 'BRK_ERR_UNAUTHORIZED', 'configured host without the token');
  await expectCode(t, server, getRequest('/credentials', [host, 'Authorization: wrong']), 401, 'BRK_ERR_UNAUTHORIZED', 'configured host with a wrong token');
  await expectCode(t, server, getRequest('/credentials', [`Host: 192.0.2.11:${server.port}`, AUTH]), 403, 'BRK_ERR_FORBIDDEN_REQUEST', 'another address');
  await expectCode(t, server, getRequest('/credentials', [host, AUTH, 'Origin: https://evil.example']), 403, 'BRK_ERR_FORBIDDEN_REQUEST', 'browser markers still refused');

  const loopbackOnly = await listenApp();
  t.teardown(() => loopbackOnly.close());
  await expectCode(t, loopbackOnly, getRequest('/credentials', [`Host: 192.0.2.10:${loopbackOnly.port}`, AUTH]), 403, 'BRK_ERR_FORBIDDEN_REQUEST', 'without the setting, that Host is refused');
});

t.test('Host names accepted for a configured address: itself, IPv6 in brackets, every local address for a wildcard', async (t) => {
  t.same(hostNamesFor('192.0.2.10'), ['192.0.2.10']);
  t.same(hostNamesFor('Broker.LAN'), ['broker.lan']);
  t.same(hostNamesFor('fd00::1'), ['[fd00::1]']);
  const wildcard = hostNamesFor('0.0.0.0');
  t.ok(wildcard.includes('127.0.0.1'), 'a wildcard bind accepts the machine\'s addresses');
  t.notOk(wildcard.includes('evil.example'));
});
