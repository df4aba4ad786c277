import t from 'tap';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { modulesLoaded, packagesIn } from '../support/modules-loaded.js';

// What a command loads is start-up time and memory for every user of it: these packages are
// loaded by the commands that need them, not by login with a password on stdin or by a daemon
// whose profile does not use them. Each check is paired with one that shows the recorder saw the
// command's real work, so that an empty record cannot pass.
t.test('login with the password on stdin and serve load no prompt, QR-code, schema-compiler or STS package', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());

  const login = await modulesLoaded(['login', '--password-stdin'], be.env, { input: `${be.stack.password}\n` });
  t.equal(login.code, 0, 'login signed in');
  const loginPackages = packagesIn(login.urls);
  t.ok(loginPackages.has('cognito-srp-helper') && loginPackages.has('@aws-sdk/client-cognito-identity-provider'), 'login loaded SRP and the user-pool client', { loaded: [...loginPackages] });
  for (const name of ['@inquirer/input', '@inquirer/password', 'qrcode']) t.notOk(loginPackages.has(name), `login did not load ${name}: it showed no prompt`);

  const serve = await modulesLoaded(['serve'], be.env, { stopWhen: /AWS_CONTAINER_CREDENTIALS_FULL_URI=/ });
  const servePackages = packagesIn(serve.urls);
  t.ok(servePackages.has('fastify') && servePackages.has('@aws-sdk/client-cognito-identity'), 'serve loaded fastify and the identity-pool client', { loaded: [...servePackages] });
  // (fast-json-stringify's runtime and the SDK's default credential chain stay: fastify's error
  // serializer and the identity-pool client's own configuration load them.)
  for (const name of ['ajv', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', '@aws-sdk/client-sts', '@inquirer/input', 'qrcode']) {
    t.notOk(servePackages.has(name), `serve did not load ${name}`);
  }
});
