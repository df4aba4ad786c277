import { join } from 'node:path';
import t from 'tap';
import { openSecretStore } from '../../src/app/open-secret-store.js';

const config = (secretStore: 'keychain' | 'kernel' | 'file') => ({ file: '/home/u/.config/cognito-broker/config.json', stateDir: '/home/u/.local/state/cognito-broker', secretStore });

t.test('the config\'s secretStore picks the store', async (t) => {
  t.equal(openSecretStore(config('keychain'), {}, 'linux').kind, 'keychain');
  t.equal(openSecretStore(config('kernel'), {}, 'linux').kind, 'kernel');
  const file = openSecretStore(config('file'), {}, 'linux');
  t.equal(file.kind, 'file');
  t.match(file.description, `a plain file in ${join('/home/u/.local/state/cognito-broker', 'secrets')}`, 'under the state directory');
});

t.test('the kernel keyring elsewhere than Linux is a config error naming the file and the key', async (t) => {
  t.throws(() => openSecretStore(config('kernel'), {}, 'darwin'), {
    code: 'BRK_ERR_CONFIG_INVALID',
    file: '/home/u/.config/cognito-broker/config.json',
    problems: [{ path: '$.secretStore', expected: '"keychain" or "file" on darwin (the kernel keyring is Linux only)' }],
  });
});
