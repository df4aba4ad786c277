import t from 'tap';
import { requireSecretService, startBrokerEnv, TEST_KEYCHAIN_SERVICE } from '../support/broker-env.js';
import { onTerminal } from '../support/pty.js';
import { startKeychainWorker } from '../support/secret-service.js';
import { CLI_BIN as MAIN } from '../support/cli.js';


t.test('on a terminal, login asks for the password and a new one when the pool requires it, masked', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv({ newPasswordUser: true });
  t.teardown(() => be.stop());
  const user = be.stack.newPasswordUser;
  if (!user) throw new Error('the stack made no FORCE_CHANGE_PASSWORD user');
  const newPassword = 'Fresh-Passw0rd!';

  const result = await onTerminal([process.execPath, MAIN, 'login', '--username', user.username], { ...be.env, NODE_NO_WARNINGS: '1' }, [
    [/Password:/, `${user.temporaryPassword}\r`],
    [/New password:/, `${newPassword}\r`],
    [/New password again:/, `${newPassword}\r`],
  ]);
  t.same(result.unanswered, [], 'every prompt appeared');
  t.equal(result.exit, 0, result.output);
  t.match(result.output, /Signed in as/);
  t.notOk(result.output.includes(user.temporaryPassword), 'the password was not echoed');
  t.notOk(result.output.includes(newPassword), 'the new password was not echoed');
  t.match(result.output, /\*{8}/, 'typing shows a mask');

  const keychain = await startKeychainWorker(be.secretService.env, { service: TEST_KEYCHAIN_SERVICE });
  t.teardown(() => keychain.stop());
  const stored = JSON.parse((await keychain.get('profile:default')) as string) as { username: string; refreshToken: string };
  t.equal(stored.username, user.username, 'the session is in the keychain');
});

t.test('on a terminal, a wrong password is a clear error without a stack trace', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  const result = await onTerminal([process.execPath, MAIN, 'login'], { ...be.env, NODE_NO_WARNINGS: '1' }, [[/Password:/, 'not-the-password\r']]);
  t.equal(result.exit, 1);
  t.match(result.output, /BRK_ERR_SIGN_IN_FAILED/);
  t.notMatch(result.output, /\n\s+at /, 'no stack trace');
});
