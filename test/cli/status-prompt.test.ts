import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { promptLine, timeLeft } from '../../src/cli/status-prompt.js';
import type { PromptFile } from '../../src/store/prompt-file.js';
import { modulesLoaded, ourFiles } from '../support/recorded-runs.js';

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
const HOUR = 3_600_000;

const file = (profiles: PromptFile['profiles']): PromptFile => ({ v: 1, pid: 42, config: '/cfg.json', defaultProfile: 'work', updatedAt: new Date(NOW).toISOString(), profiles });
const alive = { configFile: '/cfg.json', isAlive: (pid: number) => pid === 42, sameFile: (a: string, b: string) => a === b };
const at = (ms: number) => new Date(NOW + ms).toISOString();

t.test('one short line per state, with status\'s exit codes', async (t) => {
  const line = (profiles: PromptFile['profiles'], profile?: string) => promptLine(file(profiles), { ...alive, profile }, NOW);
  t.same(line({ work: { state: 'ready', signInEndsAt: at(6 * 24 * HOUR + 23 * HOUR + 5_000), credentialsExpireAt: at(HOUR) } }), { text: 'work 6d23h', exit: 0 }, 'the sign-in\'s time left when it is known');
  t.same(line({ work: { state: 'refreshing-ahead', credentialsExpireAt: at(41 * 60_000 + 500) } }), { text: 'work 41m', exit: 0 }, 'else the credentials\'');
  t.same(line({ work: { state: 'ready', endsSoon: true, signInEndsAt: at(5 * HOUR + 12 * 60_000 + 1) } }), { text: 'work 5h12m login soon', exit: 0 });
  t.same(line({ work: { state: 'login-required', credentialsExpireAt: at(HOUR) } }), { text: 'work login needed', exit: 3 });
  t.same(line({ work: { state: 'signed-out' } }), { text: 'work login needed', exit: 3 });
  t.same(line({ work: { state: 'degraded', signInEndsAt: at(48 * HOUR), credentialsExpireAt: at(20 * 60_000) } }), { text: 'work 20m retrying', exit: 5 }, 'retrying: what is still served');
  t.same(line({ work: { state: 'starting' } }), { text: 'work starting', exit: 5 });
  t.same(line({ work: { state: 'ready' }, other: { state: 'login-required' } }, 'other'), { text: 'other login needed', exit: 3 }, '--profile');
  t.same(line({ work: { state: 'ready' } }, 'nope'), { text: 'nope not served', exit: 4 });
});

t.test('no daemon: no file, a file whose process is gone, or a daemon of another config', async (t) => {
  t.same(promptLine(undefined, alive, NOW), { text: 'no daemon', exit: 4 });
  t.same(promptLine(undefined, { ...alive, profile: 'work' }, NOW), { text: 'work no daemon', exit: 4 });
  t.same(promptLine({ ...file({ work: { state: 'ready' } }), pid: 7 }, alive, NOW), { text: 'no daemon', exit: 4 }, 'a stale file');
  t.same(promptLine(file({ work: { state: 'ready' } }), { ...alive, configFile: '/other.json' }, NOW), { text: 'no daemon', exit: 4 }, 'another config');
});

t.test('time left', async (t) => {
  t.equal(timeLeft(-5_000), '0s');
  t.equal(timeLeft(59_999), '59s');
  t.equal(timeLeft(HOUR - 1), '59m');
  t.equal(timeLeft(HOUR + 5 * 60_000), '1h05m');
  t.equal(timeLeft(30 * 24 * HOUR), '30d0h');
});

t.test('status --prompt loads none of the AWS SDK, zod, fastify or pino: only a few of our modules and Node\'s own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-prompt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state', 'cognito-broker');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const configFile = join(dir, 'config.json');
  writeFileSync(join(stateDir, 'prompt.json'), JSON.stringify({ ...file({ work: { state: 'ready', credentialsExpireAt: new Date(Date.now() + HOUR).toISOString() } }), pid: process.pid, config: configFile }));
  const env = { PATH: process.env.PATH, HOME: dir, XDG_STATE_HOME: join(dir, 'state'), XDG_CACHE_HOME: join(dir, 'cache'), COGNITO_BROKER_CONFIG: configFile };

  const prompt = await modulesLoaded(['status', '--prompt'], env);
  t.match(prompt.stdout, /^work (59|60)m\n$/, 'it answered from the file');
  t.same(prompt.urls.filter((url) => !url.startsWith('node:') && !url.includes('/dist/src/')), [], 'no module from node_modules, nothing else');
  const ours = ourFiles(prompt.urls).sort();
  t.same(ours, ['cli/bin.cjs'], 'of ours, the bin alone (src/cli/bin.ts): the line is answered before the CLI bundle loads');

  // The recorder sees what a full status loads: the check above can fail.
  const full = await modulesLoaded(['status', '--json'], env);
  for (const name of ['/dist/src/bundle/zod-subset.cjs', '/node_modules/@napi-rs/keyring/']) t.ok(full.urls.some((url) => url.includes(name)), `plain status loads ${name}`);
});
