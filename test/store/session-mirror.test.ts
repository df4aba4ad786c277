import t from 'tap';
import { KeychainUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/log/create-logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { KEYCHAIN_TIMEOUT_MS, SessionMirror } from '../../src/store/session-mirror.js';
import { SessionStore, type StoredSession } from '../../src/store/session-store.js';
import { FakeClock, settle } from '../../testkit/fake-clock.js';
import { LogCapture, PROFILE, storedSession } from '../support/session-harness.js';

/** A keychain whose writes can be refused or held (reads still answer). */
class TestStore extends MemoryStore {
  refuseWrites = false;
  holdWrites = false;
  writes = 0;
  readonly held: (() => void)[] = [];
  override async set(account: string, value: string): Promise<void> {
    if (this.refuseWrites) throw new KeychainUnavailableError('writes refused (test)');
    if (this.holdWrites) await new Promise<void>((resolve) => this.held.push(resolve));
    this.writes += 1;
    return super.set(account, value);
  }
}

async function setup(initial: StoredSession | undefined = storedSession()) {
  const secrets = new TestStore();
  const sessions = new SessionStore(secrets);
  if (initial) await sessions.save(PROFILE, initial);
  secrets.writes = 0;
  const clock = new FakeClock();
  const logs = new LogCapture();
  const mirror = new SessionMirror({ profile: PROFILE, sessions, clock, logger: createLogger({ level: 'trace', destination: logs }) });
  const token = async () => (await sessions.load(PROFILE))?.refreshToken;
  return { secrets, sessions, clock, logs, mirror, token };
}

const rotated = (from: StoredSession, refreshToken: string): StoredSession => ({ ...from, refreshToken });

t.test('persist writes over the entry the session came from', async (t) => {
  const { mirror, token } = await setup();
  const base = (await mirror.load()) as StoredSession;
  const view = await mirror.persist(rotated(base, 'rotated-1'));
  t.match(view, { kind: 'ours', saved: true });
  t.equal(await token(), 'rotated-1');
  t.notOk(mirror.pending);
  t.match(await mirror.persist(rotated(base, 'rotated-2')), { kind: 'ours', saved: true }, 'then over what it wrote');
  t.equal(await token(), 'rotated-2');
});

t.test('persist never writes over a deleted entry: it says so, and names the held token the keychain never had', async (t) => {
  const { sessions, secrets, mirror } = await setup();
  const base = (await mirror.load()) as StoredSession;
  await sessions.delete(PROFILE);
  const view = await mirror.persist(rotated(base, 'rotated-1'));
  t.match(view, { kind: 'deleted', unsaved: { refreshToken: 'rotated-1' } });
  t.equal(await sessions.load(PROFILE), undefined, 'not resurrected');
  t.equal(secrets.writes, 0);
});

t.test('persist never writes over another refresh token (a newer login, any user)', async (t) => {
  for (const login of [storedSession('refresh-token-relogin'), { ...storedSession('refresh-token-bob'), username: 'bob' }]) {
    const { sessions, mirror, token } = await setup();
    const base = (await mirror.load()) as StoredSession;
    await sessions.save(PROFILE, login);
    const view = await mirror.persist(rotated(base, 'rotated-1'));
    t.match(view, { kind: 'replaced', entry: { refreshToken: login.refreshToken, username: login.username }, unsaved: { refreshToken: 'rotated-1' } });
    t.equal(await token(), login.refreshToken, `${login.username}'s login kept`);
    // Until the session takes it up, the entry stays another's: nothing is written over it.
    t.match(await mirror.watch(), { kind: 'replaced' });
    t.equal(await token(), login.refreshToken);
    mirror.adopt(view.kind === 'replaced' ? view.entry : login);
    t.notOk(mirror.pending, 'adopting drops what was pending');
    t.match(await mirror.watch(), { kind: 'ours', saved: true }, 'the adopted entry is the base now');
  }
});

t.test('persist writes when the keychain already holds the held token (written by another process or a late write)', async (t) => {
  const { sessions, mirror, token } = await setup();
  const base = (await mirror.load()) as StoredSession;
  const held = { ...rotated(base, 'rotated-1'), identity: { identityPoolId: PROFILE.identityPoolId, identityId: 'eu-west-1:abc' } };
  await sessions.save(PROFILE, rotated(base, 'rotated-1'));
  t.match(await mirror.persist(held), { kind: 'ours', saved: true });
  t.same((await sessions.load(PROFILE))?.identity, held.identity);
  t.equal(await token(), 'rotated-1');
});

t.test('a refused write stays pending, is written by the next watch, and is warned about once', async (t) => {
  const { secrets, mirror, token, logs } = await setup();
  const base = (await mirror.load()) as StoredSession;
  secrets.refuseWrites = true;
  t.match(await mirror.persist(rotated(base, 'rotated-1')), { kind: 'ours', saved: false });
  t.match(await mirror.watch(), { kind: 'ours', saved: false });
  t.ok(mirror.pending);
  t.equal(logs.lines.filter((l) => /could not be written to the keychain/.test(String(l.msg))).length, 1, 'one warning, not one per look');
  t.match(await mirror.watch({ write: false }), { kind: 'ours', saved: false }, 'a look without writing');
  secrets.refuseWrites = false;
  t.match(await mirror.watch({ write: false }), { kind: 'ours', saved: false }, 'still not written without asking');
  t.match(await mirror.watch(), { kind: 'ours', saved: true });
  t.equal(await token(), 'rotated-1');
  t.notOk(logs.raw.join('\n').includes('rotated-1'), 'no token in the log');
});

t.test('one keychain call at a time, within KEYCHAIN_TIMEOUT_MS: a hung write is not stacked, and the newest session lands last', async (t) => {
  const { secrets, clock, mirror, token } = await setup();
  const base = (await mirror.load()) as StoredSession;
  secrets.holdWrites = true;
  const first = mirror.persist(rotated(base, 'rotated-1'));
  await clock.advance(KEYCHAIN_TIMEOUT_MS);
  t.match(await first, { kind: 'unknown' }, 'given up after KEYCHAIN_TIMEOUT_MS');
  t.match(await mirror.watch(), { kind: 'unknown' }, 'a look while the write hangs answers at once');
  const second = mirror.persist(rotated(base, 'rotated-2'));
  await clock.advance(KEYCHAIN_TIMEOUT_MS);
  t.match(await second, { kind: 'unknown' });
  t.equal(secrets.held.length, 1, 'one write in the keychain\'s hands');
  secrets.holdWrites = false;
  for (const go of secrets.held.splice(0)) go();
  await settle();
  t.equal(await token(), 'rotated-2', 'the hung write landed, then the newer one');
  t.notOk(mirror.pending);
});

t.test('a late write for a session dropped meanwhile changes nothing after it', async (t) => {
  const { sessions, secrets, clock, mirror, token } = await setup();
  const base = (await mirror.load()) as StoredSession;
  secrets.holdWrites = true;
  const write = mirror.persist(rotated(base, 'rotated-1'));
  await clock.advance(KEYCHAIN_TIMEOUT_MS);
  await write;
  mirror.drop();
  await sessions.delete(PROFILE);
  secrets.holdWrites = false;
  for (const go of secrets.held.splice(0)) go();
  await settle();
  // The keychain took the write it was handed before the drop: a call cannot be taken back.
  t.equal(await token(), 'rotated-1');
  t.notOk(mirror.pending, 'nothing more is written');
  t.match(await mirror.watch(), { kind: 'replaced' }, 'and the dropped session\'s base is not taken for the entry\'s');
});

t.test('flush: one last persist of what is pending', async (t) => {
  const { secrets, mirror, token } = await setup();
  const base = (await mirror.load()) as StoredSession;
  t.match(await mirror.flush(), { kind: 'unknown' }, 'nothing pending, nothing done');
  secrets.refuseWrites = true;
  await mirror.persist(rotated(base, 'rotated-1'));
  secrets.refuseWrites = false;
  t.match(await mirror.flush(), { kind: 'ours', saved: true });
  t.equal(await token(), 'rotated-1');
});

t.test('a borrowed entry is watched, never written', async (t) => {
  const { BorrowedSessionStore } = await import('../../src/broker/borrowed-sign-in.js');
  const secrets = new TestStore();
  const owner = new SessionStore(secrets);
  await owner.save(PROFILE, storedSession());
  const reader = { ...PROFILE, name: 'reader', signInFrom: PROFILE };
  const clock = new FakeClock();
  const mirror = new SessionMirror({ profile: reader, sessions: new BorrowedSessionStore(secrets, PROFILE), clock, logger: createLogger({ level: 'silent' }) });
  t.notOk(mirror.writable);
  await mirror.load();
  await owner.save(PROFILE, rotated(storedSession(), 'rotated-by-owner'));
  t.match(await mirror.watch(), { kind: 'replaced', entry: { refreshToken: 'rotated-by-owner' } });
  secrets.writes = 0;
  await mirror.watch();
  t.equal(secrets.writes, 0);
});
