import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isOwnSocket, securePrivatePaths } from '../../src/store/private-paths.js';
import { InsecurePathError } from '../../src/errors.js';

function setup(t: { teardown: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'cb-paths-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state', 'cognito-broker');
  return { dir, stateDir, tokenFile: join(stateDir, 'endpoint-token') };
}

const mode = (path: string) => statSync(path).mode & 0o7777;

t.test('the state directory is created 0700', async (t) => {
  const { stateDir, tokenFile } = setup(t);
  t.same(await securePrivatePaths({ stateDir, tokenFile }), { tightened: [] });
  t.equal(mode(stateDir), 0o700);
});

t.test('a state directory others can read is tightened to 0700 and reported', async (t) => {
  const { stateDir, tokenFile } = setup(t);
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
  chmodSync(stateDir, 0o755);
  t.same(await securePrivatePaths({ stateDir, tokenFile }), { tightened: [stateDir] });
  t.equal(mode(stateDir), 0o700);
});

t.test('a token file in a directory others can write (even sticky, like /tmp) is refused', async (t) => {
  const { dir, stateDir } = setup(t);
  for (const bits of [0o777, 0o1777, 0o775, 0o757]) {
    const shared = join(dir, `shared-${bits.toString(8)}`);
    mkdirSync(shared);
    chmodSync(shared, bits);
    await t.rejects(securePrivatePaths({ stateDir, tokenFile: join(shared, 'token') }), { code: 'BRK_ERR_INSECURE_PATH', message: /writable by other users/ }, bits.toString(8));
  }
  const own = join(dir, 'own');
  mkdirSync(own, { mode: 0o755 });
  chmodSync(own, 0o755);
  await t.resolves(securePrivatePaths({ stateDir, tokenFile: join(own, 'token') }), 'a 0755 directory of ours is fine (the file itself is 0600)');
});

t.test('a token file that is a symlink or a directory is refused', async (t) => {
  const { dir, stateDir, tokenFile } = setup(t);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(dir, 'elsewhere'), 'f'.repeat(64));
  symlinkSync(join(dir, 'elsewhere'), tokenFile);
  await t.rejects(securePrivatePaths({ stateDir, tokenFile }), InsecurePathError);
  rmSync(tokenFile);
  mkdirSync(tokenFile);
  await t.rejects(securePrivatePaths({ stateDir, tokenFile }), { message: /not a plain file/ });
});

t.test('files and directories of another user are refused', async (t) => {
  if (process.getuid?.() !== 0) {
    t.comment('checked with a fake uid instead: not root, cannot chown');
    const { stateDir, tokenFile } = setup(t);
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(tokenFile, 'f'.repeat(64));
    await t.rejects(securePrivatePaths({ stateDir, tokenFile }, (process.getuid?.() ?? 0) + 1), { message: /belongs to uid/ });
    return;
  }
  const { dir, stateDir, tokenFile } = setup(t);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(tokenFile, 'f'.repeat(64), { mode: 0o600 });
  chownSync(tokenFile, 4242, 4242);
  await t.rejects(securePrivatePaths({ stateDir, tokenFile }), { message: /it belongs to uid 4242/ }, 'a planted token file');
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs, { mode: 0o700 });
  chownSync(theirs, 4242, 4242);
  await t.rejects(securePrivatePaths({ stateDir, tokenFile: join(theirs, 'token') }), { message: /directory belongs to uid 4242/ }, "another user's directory");
  chownSync(stateDir, 4242, 4242);
  await t.rejects(securePrivatePaths({ stateDir, tokenFile }), { message: /state directory belongs to uid 4242/ });
});

t.test('no checks where there are no uids (Windows)', async (t) => {
  const { stateDir, tokenFile } = setup(t);
  t.same(await securePrivatePaths({ stateDir, tokenFile }, undefined), { tightened: [] });
});

t.test('isOwnSocket: a socket of ours in a directory no one else may write', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cb-own-socket-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o700);
  const path = join(dir, 'daemon.sock');
  const server = createServer().listen(path);
  await once(server, 'listening');
  t.teardown(() => server.close());
  const uid = process.getuid?.();
  t.equal(isOwnSocket(path), uid !== undefined, 'ours, in a 0700 directory (never where there are no uids)');
  if (uid === undefined) return;
  t.equal(isOwnSocket(path, uid + 1), false, "another user's socket");
  chmodSync(dir, 0o1777);
  t.equal(isOwnSocket(path), false, 'in a directory others may write, even a sticky one: it could be swapped');
  chmodSync(dir, 0o755);
  t.equal(isOwnSocket(path), true, 'a directory others may read only is fine');
  const file = join(dir, 'plain');
  writeFileSync(file, '');
  t.equal(isOwnSocket(file), false, 'a plain file');
  t.equal(isOwnSocket(join(dir, 'missing.sock')), false, 'nothing there');
  symlinkSync(path, join(dir, 'link.sock'));
  t.equal(isOwnSocket(join(dir, 'link.sock')), false, 'a symbolic link to it');
});
