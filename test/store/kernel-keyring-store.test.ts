import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import type { KeyringEntry } from '../../src/store/keychain-store.js';
import { KernelKeyringStore, PROBE_ACCOUNT_PREFIX } from '../../src/store/kernel-keyring-store.js';
import { requireTool } from '../support/require-tool.js';
import { compiledPath } from '../support/paths.js';

const run = promisify(execFile);

/** Entries in a Map; `refuse` makes writes fail as keyutils does without a session keyring. */
function fakeKeyring(options: { refuse?: boolean; forget?: boolean } = {}) {
  const entries = new Map<string, string>();
  const calls: string[] = [];
  const createEntry = (_service: string, account: string): KeyringEntry => ({
    getPassword: async () => (calls.push(`get ${account}`), options.forget ? null : (entries.get(account) ?? null)),
    setPassword: async (value) => {
      calls.push(`set ${account}`);
      if (options.refuse) throw new Error("Couldn't access platform storage: AccessDenied");
      entries.set(account, value);
    },
    deleteCredential: async () => (calls.push(`delete ${account}`), entries.delete(account)),
  });
  return { entries, calls, createEntry };
}

t.test('the first call probes once with an entry of its own, then works as a keychain', async (t) => {
  const keyring = fakeKeyring();
  const store = new KernelKeyringStore({ createEntry: keyring.createEntry });
  t.equal(await store.get('profile:default'), undefined);
  await store.set('profile:default', 'x'.repeat(20_000));
  t.equal(await store.get('profile:default'), 'x'.repeat(20_000), 'a long value, chunked as in the keychain');
  t.equal(await store.delete('profile:default'), true);
  const probes = keyring.calls.filter((c) => c.startsWith(`set ${PROBE_ACCOUNT_PREFIX}`));
  t.equal(probes.length, 1, 'one probe for the store');
  t.same([...keyring.entries.keys()], [], 'the probe entry is deleted again');
  t.equal(store.kind, 'kernel');
  t.match(store.description, /kernel keyring \(kept until this machine reboots; it survives logout\)/);
});

t.test('without a session keyring: every call fails with the advice, never "nothing stored"', async (t) => {
  const refused = new KernelKeyringStore({ createEntry: fakeKeyring({ refuse: true }).createEntry });
  const expected = { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', retryable: true, message: /^The Linux kernel keyring \("secretStore": "kernel"\) cannot be used \(the kernel refused access: this process has no session keyring\)\..*keyctl session/s };
  await t.rejects(refused.get('profile:default'), expected, 'a read is not "signed out"');
  await t.rejects(refused.delete('profile:default'), expected);
  // Writes that seem to work but cannot be read back (the key went where this thread cannot see it).
  const forgetful = new KernelKeyringStore({ createEntry: fakeKeyring({ forget: true }).createEntry });
  await t.rejects(forgetful.get('profile:default'), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE', message: /could not be read back/ });
});

t.test('the real kernel keyring, in a session keyring (keyctl session), kept across sessions', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  if (!requireTool(t, 'keyctl', 'apt-get install keyutils')) return;
  const module = pathToFileURL(compiledPath('src/store/kernel-keyring-store.ts')).href;
  const service = `cognito-broker-unit-${process.pid}`;
  const inSession = async (code: string) => {
    const script = `const { KernelKeyringStore } = await import(${JSON.stringify(module)}); const s = new KernelKeyringStore({ service: ${JSON.stringify(service)} }); ${code}`;
    return (await run('keyctl', ['session', '-', process.execPath, '--input-type=module', '-e', script], { env: { PATH: process.env.PATH } })).stdout;
  };
  t.teardown(() => inSession(`await s.delete('a');`).catch(() => undefined));
  await inSession(`await s.set('a', 'v'.repeat(3000));`);
  t.equal(await inSession(`process.stdout.write(String((await s.get('a'))?.length));`), '3000', 'another session keyring reads it: it is in the persistent keyring');
  const persistent = await run('keyctl', ['session', '-', 'sh', '-c', `keyctl search "$(keyctl get_persistent @s)" user "keyring:a@${service}"`]);
  t.match(persistent.stdout, /^\d+\n$/, 'keyctl finds the key in the user\'s persistent keyring');
  t.equal(await inSession(`process.stdout.write(String(await s.delete('a')));`), 'true');
  t.equal(await inSession(`process.stdout.write(String(await s.get('a')));`), 'undefined');
});
