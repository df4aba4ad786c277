import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileStore } from '../../src/store/file-store.js';

const posix = process.platform !== 'win32';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-file-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('set, get, replace and delete, each account in its own file', async (t) => {
  const store = new FileStore(join(tempDir(t), 'state', 'secrets'));
  t.equal(await store.get('profile:default'), undefined, 'nothing stored yet, and no directory made by a read');
  await store.set('profile:default', 'one');
  await store.set('client-secret:default', 's3cret');
  t.equal(await store.get('profile:default'), 'one');
  await store.set('profile:default', 'two');
  t.equal(await store.get('profile:default'), 'two');
  t.equal(await store.get('client-secret:default'), 's3cret');
  t.equal(await store.delete('profile:default'), true);
  t.equal(await store.get('profile:default'), undefined);
  t.equal(await store.delete('profile:default'), false);
  t.equal(await store.get('client-secret:default'), 's3cret', 'the other account is untouched');
});

t.test('the directory is 0700 and each file 0600, whatever the umask', { skip: !posix && 'no POSIX modes' }, async (t) => {
  const dir = join(tempDir(t), 'state', 'secrets');
  const before = process.umask(0o000);
  t.teardown(() => process.umask(before));
  const store = new FileStore(dir);
  await store.set('profile:default', 'value');
  t.equal(statSync(dir).mode & 0o777, 0o700);
  const files = readdirSync(dir);
  t.same(files, ['profile%3adefault.json'], 'one file, named after the account, no temp file left');
  t.equal(statSync(join(dir, files[0] as string)).mode & 0o777, 0o600);
  t.same(JSON.parse(readFileSync(join(dir, files[0] as string), 'utf8')), { v: 1, account: 'profile:default', value: 'value' });
});

t.test('a looser directory or file is tightened on use', { skip: !posix && 'no POSIX modes' }, async (t) => {
  const dir = join(tempDir(t), 'secrets');
  const store = new FileStore(dir);
  await store.set('profile:default', 'value');
  chmodSync(dir, 0o755);
  const file = store.fileFor('profile:default');
  chmodSync(file, 0o644);
  t.equal(await store.get('profile:default'), 'value');
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.equal(statSync(file).mode & 0o777, 0o600);
});

t.test('a symbolic link in place of the directory or a file is refused, not followed', { skip: !posix && 'no symlinks here' }, async (t) => {
  const base = tempDir(t);
  const elsewhere = join(base, 'elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  symlinkSync(elsewhere, join(base, 'secrets'));
  const linked = new FileStore(join(base, 'secrets'));
  await t.rejects(linked.set('profile:default', 'value'), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', message: /"secretStore": "file".*is not a directory/s });
  t.same(readdirSync(elsewhere), [], 'nothing written through the link');

  const store = new FileStore(join(base, 'real'));
  await store.set('profile:x', 'value');
  writeFileSync(join(base, 'planted'), JSON.stringify({ v: 1, account: 'profile:default', value: 'planted' }));
  symlinkSync(join(base, 'planted'), store.fileFor('profile:default'));
  await t.rejects(store.get('profile:default'), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', message: /not a plain file/ });
});

t.test('a file not written for its account is corrupt, not another account\'s value', async (t) => {
  const store = new FileStore(join(tempDir(t), 'secrets'));
  await store.set('profile:a', 'value-a');
  renameSync(store.fileFor('profile:a'), store.fileFor('profile:b'));
  await t.rejects(store.get('profile:b'), { code: 'BRK_ERR_KEYCHAIN_ENTRY_CORRUPT' });
  writeFileSync(store.fileFor('profile:c'), 'not json', { mode: 0o600 });
  await t.rejects(store.get('profile:c'), { code: 'BRK_ERR_KEYCHAIN_ENTRY_CORRUPT' });
});

t.test('a directory it cannot write is unavailable (retryable), named, and the message names the file store', { skip: (!posix || process.getuid?.() === 0) && 'root writes anywhere' }, async (t) => {
  const base = tempDir(t);
  const dir = join(base, 'secrets');
  mkdirSync(dir, { mode: 0o500 });
  t.teardown(() => chmodSync(dir, 0o700));
  await t.rejects(new FileStore(dir).set('profile:default', 'value'), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', retryable: true, message: /EACCES/ });
});

t.test('a directory of another user is refused', { skip: !posix && 'no owners here' }, async (t) => {
  const dir = join(tempDir(t), 'secrets');
  const store = new FileStore(dir, (process.getuid?.() ?? 0) + 1);
  mkdirSync(dir, { mode: 0o700 });
  await t.rejects(store.get('profile:default'), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', message: /belongs to uid \d+, not to you/ });
});

t.test('account names become safe file names, each its own', async (t) => {
  const store = new FileStore('/x');
  t.equal(store.fileFor('profile:my.profile-1'), join('/x', 'profile%3amy.profile-1.json'));
  t.equal(store.fileFor('a/../b'), join('/x', 'a%2f..%2fb.json'), 'no path separators');
  t.not(store.fileFor('a%3ab'), store.fileFor('a:b'), 'the escape itself is escaped');
});

t.test('kind and description say plainly that it is a file', async (t) => {
  const store = new FileStore('/home/u/.local/state/cognito-broker/secrets');
  t.equal(store.kind, 'file');
  t.match(store.description, /^a plain file in \/home\/u\/\.local\/state\/cognito-broker\/secrets \(mode 0600, not encrypted/);
});
