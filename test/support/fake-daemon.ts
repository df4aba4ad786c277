/**
 * A config with its own state directory, daemon.json written as serve writes it, and a
 * scripted daemon that records what it was sent: for the tests of how commands find and
 * trust the daemon (daemon-client.ts, ask-daemon-socket.ts). Its command socket, when asked
 * for, is the real one (src/app/command-socket.ts).
 */
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { openCommandSocket } from '../../src/app/command-socket.js';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { daemonProof } from '../../src/server/endpoint-auth.js';
import { LogCapture } from './session-harness.js';

const PROFILE = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
};
export const TOKEN = 'a'.repeat(64);
export const CREDENTIALS = { AccessKeyId: 'ASIAEXAMPLE', SecretAccessKey: 'secret', Token: 'session', Expiration: '2030-01-01T00:00:00.000Z' };

/** A config and state directory of its own, and a daemon.json written as serve writes it. */
export async function setup(t: Test): Promise<{ config: Config; writeInfo: (info: Record<string, unknown>) => void; stateDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cb-daemon-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ profiles: { default: PROFILE, work: PROFILE } }));
  const stateDir = join(dir, 'state', 'cognito-broker');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const saved = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = join(dir, 'state');
  t.teardown(() => {
    if (saved === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = saved;
  });
  const config = await loadConfig({ flag: configFile });
  writeFileSync(config.server.tokenFile, TOKEN, { mode: 0o600 });
  // The config is older than the daemon, as when serve loaded it.
  utimesSync(configFile, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  return {
    config,
    stateDir,
    writeInfo: (info) => writeFileSync(join(stateDir, 'daemon.json'), JSON.stringify({
      pid: process.pid, url: 'http://127.0.0.1:9', tokenFile: config.server.tokenFile, config: config.file,
      defaultProfile: 'default', profiles: ['default', 'work'], startedAt: new Date().toISOString(), ...info,
    })),
  };
}

/** As fastify answers: JSON with its Content-Length. */
function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export interface FakeDaemonOptions {
  /** Answers GET /proof as the daemon does (default), or with a wrong proof. */
  readonly knowsToken?: boolean;
  /** Also serves on this path, through the daemon's command socket. */
  readonly socket?: string;
}

/**
 * A listener on 127.0.0.1 that answers GET /proof as the daemon does when it knows the token,
 * and the scripted answers otherwise (status 0: the body without Content-Length; -1: hangs
 * up; -2: never answers); it records every request's headers and connection.
 */
export async function fakeDaemon(t: Test, options: FakeDaemonOptions = {}) {
  const answers: [number, unknown][] = [];
  const seen: { url: string; authorization: string | undefined; host: string | undefined; socket: unknown; overCommandSocket: boolean }[] = [];
  let connections = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    // A Unix socket's peer has no address.
    seen.push({ url: request.url ?? '', authorization: request.headers.authorization, host: request.headers.host, socket: request.socket, overCommandSocket: request.socket.remoteAddress === undefined });
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname === '/proof') {
      const proof = options.knowsToken !== false ? daemonProof(TOKEN, url.searchParams.get('nonce') ?? '') : 'f'.repeat(64);
      send(response, 200, { proof });
      return;
    }
    const [status, body] = answers.shift() ?? [500, {}];
    if (status === -1) {
      request.socket.destroy();
      return;
    }
    if (status === -2) return; // never answers
    if (status === 0) {
      // No Content-Length: an answer framed another way (chunked).
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(JSON.stringify(body));
      response.end();
      return;
    }
    send(response, status, body);
  });
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = options.socket === undefined ? undefined : await openCommandSocket(options.socket, server, createLogger({ level: 'silent', destination: new LogCapture() }));
  if (options.socket !== undefined && !socket) throw new Error(`no command socket at ${options.socket}`);
  t.teardown(async () => {
    server.closeAllConnections();
    server.close();
    await socket?.close();
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { server, url, answers, seen, connections: () => connections };
}
