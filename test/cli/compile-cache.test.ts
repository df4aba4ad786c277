import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { enableCompileCache } from '../../src/cli/compile-cache.js';
import { runCli } from '../support/cli.js';

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-compile-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('creates a private directory (0700) and enables the cache there', async (t) => {
  const dir = join(scratch(t), 'cache', 'compile-cache');
  const enabled: string[] = [];
  enableCompileCache('command', dir, (d) => enabled.push(d));
  t.same(enabled, [dir]);
  if (process.platform !== 'win32') t.equal(statSync(dir).mode & 0o777, 0o700);
});

t.test('an existing directory readable by others is made 0700 first', { skip: process.platform === 'win32' }, async (t) => {
  const dir = join(scratch(t), 'compile-cache');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  const enabled: string[] = [];
  enableCompileCache('command', dir, (d) => enabled.push(d));
  t.same(enabled, [dir]);
  t.equal(statSync(dir).mode & 0o777, 0o700);
});

t.test('a symlink in its place is not used', { skip: process.platform === 'win32' }, async (t) => {
  const base = scratch(t);
  mkdirSync(join(base, 'elsewhere'), { mode: 0o700 });
  symlinkSync(join(base, 'elsewhere'), join(base, 'compile-cache'));
  const enabled: string[] = [];
  enableCompileCache('command', join(base, 'compile-cache'), (d) => enabled.push(d));
  t.same(enabled, []);
});

t.test('errors are ignored: no cache is only slower', async (t) => {
  const base = scratch(t);
  t.doesNotThrow(() => enableCompileCache('command', join(base, 'c'), () => {
    throw new Error('cannot');
  }));
  t.ok(existsSync(join(base, 'c')));
});

// The CLI sets its cache up on every Node (src/cli/run-main.ts): Node's own compile cache from
// 22.1 on, before that V8's code cache of its bundles (src/require-bundle.ts),
// which serve and login use and write (test/integration/command-footprint.test.ts).
t.test('the CLI makes its private cache directory before any command runs', async (t) => {
  const home = scratch(t);
  const result = await runCli(['--version'], { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, 'cache') });
  t.equal(result.code, 0);
  const dir = join(home, 'cache', 'cognito-broker', 'compile-cache');
  t.ok(existsSync(dir), 'made');
  if (process.platform !== 'win32') t.equal(statSync(dir).mode & 0o777, 0o700, 'the user\'s own');
});
