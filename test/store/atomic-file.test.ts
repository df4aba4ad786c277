import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { STALE_TEMP_MS, writePrivateFile } from '../../src/store/atomic-file.js';

t.test('writes 0600 in a 0700 directory and leaves no temp file', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'atomic-'));
  t.teardown(() => rm(parent, { recursive: true, force: true }));
  const dir = join(parent, 'state');
  const file = join(dir, 'token');
  await writePrivateFile(file, 'one');
  await writePrivateFile(file, 'two');
  t.equal(await readFile(file, 'utf8'), 'two');
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.equal((await stat(dir)).mode & 0o777, 0o700);
  t.same(await readdir(dir), ['token']);
});

t.test('a temp file left by a process killed mid-write is removed at the next write; a fresh one is not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'token');
  const stale = `${file}.0123456789ab.tmp`;
  const fresh = `${file}.ba9876543210.tmp`;
  const unrelated = join(dir, 'other.0123456789ab.tmp');
  for (const path of [stale, fresh, unrelated]) await writeFile(path, 'secret-from-a-crash', { mode: 0o600 });
  const old = new Date(Date.now() - STALE_TEMP_MS - 5_000);
  await utimes(stale, old, old);
  await utimes(unrelated, old, old);
  await writePrivateFile(file, 'new');
  t.same((await readdir(dir)).sort(), ['other.0123456789ab.tmp', 'token', 'token.ba9876543210.tmp']);
});
