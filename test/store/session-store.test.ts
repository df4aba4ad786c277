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
    kind: 'test',
    description: 'a test store',
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

const device = { v: 1 as const, userPoolId: PROFILE.userPoolId, username: 'alice@example.com', cognitoUsername: 'internal-id', deviceKey: 'dev-1', deviceGroupKey: 'grp-1', devicePassword: 'device-password' };

t.test('the remembered device and the client secret are entries of their own that survive a new login', async (t) => {
  const secrets = new MemoryStore();
  const store = new SessionStore(secrets);
  await store.saveDevice(PROFILE, device);
  await store.saveClientSecret(PROFILE, 'client-secret-value');
  await store.save(PROFILE, storedSession('one'));
  await store.save(PROFILE, storedSession('two'));
  t.same(await store.loadDevice(PROFILE), device);
  t.equal(await store.loadClientSecret(PROFILE), 'client-secret-value');
  t.ok(await secrets.get('device:default'));
  t.ok(await secrets.get('client-secret:default'));
  t.notOk((await secrets.get('profile:default'))?.includes('device-password'), 'the device password is not in the session entry');
});

t.test('a device of another pool, a secret of another app client, or entries not ours are ignored', async (t) => {
  const secrets = new MemoryStore();
  const store = new SessionStore(secrets);
  await store.saveDevice({ ...PROFILE, userPoolId: 'eu-west-1_Other' }, { ...device, userPoolId: 'eu-west-1_Other' });
  await store.saveClientSecret({ ...PROFILE, clientId: 'otherclient' }, 'x');
  t.equal(await store.loadDevice(PROFILE), undefined);
  t.equal(await store.loadClientSecret(PROFILE), undefined);
  await secrets.set('device:default', '{"v":1}');
  await secrets.set('client-secret:default', 'not json');
  t.equal(await store.loadDevice(PROFILE), undefined);
  t.equal(await store.loadClientSecret(PROFILE), undefined);
});

t.test('delete removes the session, the device and the client secret, and says whether anything was there', async (t) => {
  const secrets = new MemoryStore();
  const store = new SessionStore(secrets);
  await store.save(PROFILE, storedSession());
  await store.saveDevice(PROFILE, device);
  await store.saveClientSecret(PROFILE, 'client-secret-value');
  await secrets.set('profile:other', 'kept');
  t.equal(await store.delete(PROFILE), true);
  for (const account of ['profile:default', 'device:default', 'client-secret:default']) t.equal(await secrets.get(account), undefined, `${account} gone`);
  t.equal(await secrets.get('profile:other'), 'kept', 'other profiles untouched');
  t.equal(await store.delete(PROFILE), false, 'nothing left');
  await store.saveDevice(PROFILE, device);
  t.equal(await store.delete(PROFILE), true, 'a device alone counts');
});

t.test('a locked keychain is an error for devices and secrets too, not "none"', async (t) => {
  const secrets = new MemoryStore();
  secrets.available = false;
  const store = new SessionStore(secrets);
  await t.rejects(store.loadDevice(PROFILE), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE' });
  await t.rejects(store.loadClientSecret(PROFILE), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE' });
  await t.rejects(store.delete(PROFILE), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE' });
});
