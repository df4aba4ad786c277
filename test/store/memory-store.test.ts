import t from 'tap';
import { KeychainUnavailableError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { SecretStore } from '../../src/store/secret-store.js';

t.test('get of an account with nothing stored resolves undefined', async (t) => {
  t.equal(await new MemoryStore().get('default'), undefined);
});

t.test('set then get returns the value; set again replaces it', async (t) => {
  const store: SecretStore = new MemoryStore();
  await store.set('default', 'one');
  t.equal(await store.get('default'), 'one');
  await store.set('default', 'two');
  t.equal(await store.get('default'), 'two');
});

t.test('accounts are independent', async (t) => {
  const store = new MemoryStore();
  await store.set('a', 'value-a');
  await store.set('b', 'value-b');
  await store.delete('a');
  t.equal(await store.get('a'), undefined);
  t.equal(await store.get('b'), 'value-b');
});

t.test('delete resolves true when something was deleted, false otherwise', async (t) => {
  const store = new MemoryStore([['default', 'secret']]);
  t.equal(await store.delete('default'), true);
  t.equal(await store.get('default'), undefined);
  t.equal(await store.delete('default'), false);
});

t.test('starts with the entries it is given', async (t) => {
  const store = new MemoryStore(new Map([['default', 'secret']]));
  t.equal(await store.get('default'), 'secret');
});

t.test('an unavailable store rejects every call with KeychainUnavailableError', async (t) => {
  const store = new MemoryStore([['default', 'secret']]);
  store.available = false;
  const expected = { name: 'KeychainUnavailableError', code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', retryable: true };
  await t.rejects(store.get('default'), expected, 'get');
  await t.rejects(store.get('missing'), expected, 'get of a missing account is not undefined');
  await t.rejects(store.set('default', 'other'), expected, 'set');
  await t.rejects(store.delete('default'), expected, 'delete');
  await t.rejects(store.get('default'), KeychainUnavailableError);
});

t.test('entries survive a lock and unlock, and nothing changes while locked', async (t) => {
  const store = new MemoryStore([['default', 'secret']]);
  store.available = false;
  await store.set('default', 'other').catch(() => undefined);
  await store.delete('default').catch(() => undefined);
  store.available = true;
  t.equal(await store.get('default'), 'secret');
});
