import t from 'tap';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionStore, sessionFingerprint } from '../../src/store/session-store.js';
import { KeychainEntryCorruptError } from '../../src/errors.js';
import { PROFILE, storedSession } from '../support/session-harness.js';

t.test('round-trips a session under the profile name', async (t) => {
  const secrets = new MemoryStore();
  const store = new SessionStore(secrets);
  t.equal(await store.load(PROFILE), undefined, 'nothing stored: signed out');
  await store.save(PROFILE, storedSession());
  t.same(await store.load(PROFILE), storedSession());
  t.ok(await secrets.get('profile:default'));
  t.equal(await store.delete(PROFILE), true);
  t.equal(await store.load(PROFILE), undefined);
});

t.test('a session for another pool or client, or not ours, is refused with the profile named', async (t) => {
  const secrets = new MemoryStore();
  const store = new SessionStore(secrets);
  await secrets.set('profile:default', JSON.stringify({ ...storedSession(), userPoolId: 'eu-west-1_Other' }));
  await t.rejects(store.load(PROFILE), { code: 'BRK_ERR_STORED_SESSION_INVALID', message: /profile "default".*another user pool/ });
  await secrets.set('profile:default', 'not json');
  await t.rejects(store.load(PROFILE), { code: 'BRK_ERR_STORED_SESSION_INVALID', message: /not a session cognito-broker wrote/ });
});

t.test('a corrupt keychain entry becomes an invalid session for that profile', async (t) => {
  const store = new SessionStore({
    get: async () => { throw new KeychainEntryCorruptError('profile:default', 'chunk 2 of 3 is missing'); },
    set: async () => undefined,
    delete: async () => false,
  });
  await t.rejects(store.load(PROFILE), { code: 'BRK_ERR_STORED_SESSION_INVALID', message: /profile "default".*chunk 2 of 3/ });
});

t.test('a locked keychain is its own error, not "signed out"', async (t) => {
  const secrets = new MemoryStore();
  secrets.available = false;
  await t.rejects(new SessionStore(secrets).load(PROFILE), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE' });
});

t.test('fingerprints tell sessions apart without holding the token', async (t) => {
  const a = sessionFingerprint(storedSession('one'));
  t.not(a, sessionFingerprint(storedSession('two')));
  t.equal(a, sessionFingerprint(storedSession('one')));
  t.notMatch(a, /one/);
});
