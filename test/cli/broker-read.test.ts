import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freshCredentials, freshTokens } from '../../src/cli/broker-read.js';
import { loadConfig } from '../../src/config/load-config.js';
import { daemonProof } from '../../src/server/endpoint-auth.js';

const PROFILE = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
};
const TOKEN = 'b'.repeat(64);
const CREDENTIALS = { AccessKeyId: 'ASIAEXAMPLE', SecretAccessKey: 'secret', Token: 'session', Expiration: '2030-01-01T00:00:00.000Z' };
const TOKENS = { IdToken: 'id.token.x', AccessToken: 'access.token.x', Expiration: '2030-01-01T00:00:00.000Z' };

t.test('freshCredentials and freshTokens ask the daemon of this very config file before parsing it (request\'s fast path)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-broker-read-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const saved = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = join(dir, 'state');
  t.teardown(() => {
    if (saved === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = saved;
  });
  mkdirSync(join(dir, 'state', 'cognito-broker'), { recursive: true, mode: 0o700 });
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ profiles: { default: PROFILE, work: PROFILE } }));
  const config = await loadConfig({ flag: configFile });
  writeFileSync(config.server.tokenFile, TOKEN, { mode: 0o600 });

  const asked: string[] = [];
  const daemon = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname === '/proof') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ proof: daemonProof(TOKEN, url.searchParams.get('nonce') ?? '') }));
      return;
    }
    asked.push(request.url ?? '');
    const body = request.headers.authorization !== TOKEN ? undefined : request.url?.endsWith('/credentials') ? CREDENTIALS : TOKENS;
    response.writeHead(body ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
  });
  daemon.listen(0, '127.0.0.1');
  await once(daemon, 'listening');
  t.teardown(() => daemon.close());
  writeFileSync(join(dir, 'state', 'cognito-broker', 'daemon.json'), JSON.stringify({
    pid: process.pid, url: `http://127.0.0.1:${(daemon.address() as AddressInfo).port}`, tokenFile: config.server.tokenFile,
    config: configFile, defaultProfile: 'default', profiles: ['default', 'work'], startedAt: new Date().toISOString(),
  }));

  // A config the loader refuses, yet as old as the daemon's: only the fast path can answer.
  writeFileSync(configFile, '{ not json');
  const old = new Date(Date.now() - 60_000);
  utimesSync(configFile, old, old);
  t.same(await freshCredentials({ config: configFile }), CREDENTIALS, 'credentials from the daemon, the config never parsed');
  t.same(await freshCredentials({ config: configFile, profile: 'work' }), CREDENTIALS);
  t.same(await freshTokens({ config: configFile }), TOKENS, 'tokens the same way');
  t.same(asked, ['/credentials', '/profiles/work/credentials', '/token'], 'one call each, at the profile\'s route');

  // Changed since the daemon started: the config is loaded (and here refused), as it must be.
  const now = new Date();
  utimesSync(configFile, now, now);
  await t.rejects(freshCredentials({ config: configFile }), { code: 'BRK_ERR_CONFIG_INVALID' });
  t.equal(asked.length, 3, 'no daemon call on the slow path before the config loads');
});
