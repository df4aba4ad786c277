import { readFileSync } from 'node:fs';
import t from 'tap';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';

const PICKUP_DEADLINE_MS = 8_000;

t.test('a service started before any sign-in says "not signed in", then serves after login without a restart', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  // As the unit runs it: serve --config FILE, nothing else on its command line.
  const serve = await startServe(['--config', be.configFile], be.env);
  t.teardown(() => serve.stop());

  const before = await runCli(['service', 'status'], be.env);
  t.equal(before.code, 0, 'the daemon answers');
  t.match(before.stdout, new RegExp(`Daemon: pid ${serve.child.pid} at http://127\\.0\\.0\\.1:\\d+, config ${be.configFile}`));
  t.match(before.stdout, /^ {2}default: not signed in: run cognito-broker login$/m);
  const refused = await fetch(serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string, { headers: { authorization: serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string } });
  t.match({ status: refused.status, body: await refused.json() }, { status: 503, body: { Code: 'BRK_ERR_NOT_SIGNED_IN', Message: /cognito-broker login/ } });

  t.equal((await runCli(['login', '--password-stdin'], be.env, `${be.stack.password}\n`)).code, 0);
  const loggedInAt = Date.now();
  let status = '';
  while (Date.now() - loggedInAt < PICKUP_DEADLINE_MS) {
    status = (await runCli(['service', 'status'], be.env)).stdout;
    if (/^ {2}default: ready$/m.test(status)) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  t.match(status, /^ {2}default: ready$/m, `picked up ${Date.now() - loggedInAt} ms after login, same pid`);
  t.equal(serve.child.exitCode, null, 'no restart');
  const served = await fetch(serve.exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string, { headers: { authorization: serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string } });
  t.equal(served.status, 200);

  const argv = readFileSync(`/proc/${serve.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  t.same(argv.slice(-3), ['serve', '--config', be.configFile], 'serve\'s argv: the config path, no secret');
  t.notOk(argv.some((arg) => arg.includes(serve.exports.AWS_CONTAINER_AUTHORIZATION_TOKEN as string) || arg.includes(be.stack.password)));
});
