import t from 'tap';
import { startSecretService } from '../../testkit/secret-service.js';
import { secretServiceToolsOrFailInCI, startKeychainWorker } from '../support/secret-service.js';

const missing = secretServiceToolsOrFailInCI((message) => t.fail(message));

t.test('a gnome-keyring-daemon that dies is started again once, unlocked, with the keyring intact, and says so', { skip: missing ?? false }, async (t) => {
  const service = await startSecretService();
  t.teardown(() => service.stop());
  const worker = await startKeychainWorker(service.env, { service: 'cognito-broker-restart-test' });
  t.teardown(() => worker.stop());
  await worker.set('kept', 'value before the crash');
  const first = await service.daemonPid();
  t.ok(first, 'a daemon runs');
  process.kill(first as number, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while ((await service.daemonPid()) === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const second = await service.daemonPid();
  t.not(second, first, 'another daemon runs');
  t.equal(await worker.get('kept'), 'value before the crash', 'what was stored is there, unlocked');
  t.match(service.daemonExit(), /gnome-keyring-daemon exited \(SIGKILL\)/, 'the exit is reported');
  await service.lock();
  await t.rejects(worker.get('kept'), { code: 'BRK_ERR_KEYCHAIN_UNAVAILABLE' }, 'and it is the real daemon: it locks');
});

t.test('after lock() an exit is reported but not undone: a restart would unlock the keyring', { skip: missing ?? false }, async (t) => {
  const service = await startSecretService();
  t.teardown(() => service.stop());
  await service.lock();
  const pid = await service.daemonPid();
  process.kill(pid as number, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (service.daemonExit() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.match(service.daemonExit(), /exited \(SIGKILL\)/, 'the exit is reported');
  t.equal(await service.daemonPid(), pid, 'no other daemon was started');
});
