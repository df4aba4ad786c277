import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { DaemonNotices } from '../../src/app/daemon-notices.js';
import type { Notifier } from '../../src/app/notifier.js';
import type { ProfileStatus } from '../../src/broker/profile-session.js';
import type { SessionNotice } from '../../src/broker/session-notice.js';
import { createLogger } from '../../src/log/create-logger.js';
import { LogCapture, PROFILE } from '../support/session-harness.js';

const status = (phase: ProfileStatus['phase'], extra: Partial<ProfileStatus> = {}): ProfileStatus => ({ profile: 'default', phase, upstreamCalls: { refresh: 0, getId: 0, getCredentials: 0 }, ...extra });
const notice: SessionNotice = { profile: 'default', state: 'login-required', message: 'Profile "default" must sign in again (test). Run: cognito-broker login', key: 'login-required:x' };

function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-notices-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const told: SessionNotice[] = [];
  const recorder: Notifier = { notify: async (n) => void told.push(n) };
  const logs = new LogCapture();
  const notices = new DaemonNotices({
    config: { file: '/cfg.json', stateDir: dir, defaultProfile: 'default', profiles: { default: PROFILE } },
    notifiers: [recorder, { notify: async () => { throw new Error('a broken notifier (test)'); } }],
    logger: createLogger({ level: 'debug', destination: logs }),
    pid: 4242,
  });
  const file = join(dir, 'prompt.json');
  const read = () => JSON.parse(readFileSync(file, 'utf8')) as { pid: number; config: string; defaultProfile: string; profiles: Record<string, Record<string, unknown>> };
  return { notices, told, logs, file, read };
}

t.test('nothing is written or told before start(); then the file follows every change, 0600, and notices reach each notifier once', async (t) => {
  const { notices, told, logs, file, read } = setup(t);
  notices.changed(status('login-required'), notice);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.notOk(existsSync(file), 'not before the daemon listens (another may be the running one)');
  t.same(told, [], 'notices wait too');

  await notices.start();
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.match(read(), { pid: 4242, config: '/cfg.json', defaultProfile: 'default', profiles: { default: { state: 'login-required' } } });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(told, [notice], 'the held notice is told at start');
  t.ok(logs.lines.some((l) => l.msg === 'a notifier failed'), 'a failing notifier is logged, the others still run');
  t.ok(logs.lines.some((l) => l.msg === `notice: ${notice.message}`), 'and the notice itself is logged');

  // Changes in a burst: the file ends with the last.
  for (const phase of ['refreshing', 'ready', 'refreshing-ahead'] as const) notices.changed(status(phase), undefined);
  notices.changed(status('ready', { endsSoon: true, signInEndsAt: '2026-12-03T00:00:00.000Z', credentialsExpireAt: '2026-12-02T13:00:00.000Z', identityId: 'eu-west-1:secret-ish', user: 'alice' }), undefined);
  await notices.close();
  t.notOk(existsSync(file), 'removed at close');
});

t.test('the file holds the last state, the expiries and nothing else', async (t) => {
  const { notices, read } = setup(t);
  await notices.start();
  for (const phase of ['refreshing', 'ready'] as const) notices.changed(status(phase), undefined);
  notices.changed(status('ready', { endsSoon: true, signInEndsAt: '2026-12-03T00:00:00.000Z', credentialsExpireAt: '2026-12-02T13:00:00.000Z', user: 'alice', identityId: 'eu-west-1:abc' }), undefined);
  // Writes go one at a time; the last one lands when the machine gets to it.
  for (let i = 0; i < 100 && read().profiles.default?.state !== 'ready'; i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(read().profiles, { default: { state: 'ready', endsSoon: true, signInEndsAt: '2026-12-03T00:00:00.000Z', credentialsExpireAt: '2026-12-02T13:00:00.000Z' } }, 'no user, no IdentityId');
});
