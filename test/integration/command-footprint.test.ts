import { readdirSync, readFileSync } from 'node:fs';
import nodeModule from 'node:module';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type BrokerEnv, requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { freshNewSpaceBytes, heapAtExit, modulesLoaded, ourFiles, packagesIn } from '../support/recorded-runs.js';
import { CLI_BIN, runCli, startServe } from '../support/cli.js';
import { compiledPath } from '../support/paths.js';

// What a command loads and keeps is start-up time and memory for every user of it. Each check
// is paired with one that shows the recorder saw the command's real work, so that an empty
// record cannot pass.
t.test('what login and serve load and keep', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  await t.test('login with the password on stdin and serve load no prompt, QR-code, schema-compiler or STS package', (t) => packagesLoaded(t, be));
  await t.test('login and serve run the bundle of our modules, load CommonJS packages with require() and the parts of zod they use', (t) => howPackagesLoad(t, be));
  await t.test("serve keeps V8's young generation within twice a fresh process's size, and optimizes hot code once its start-up is over", (t) => youngGeneration(t, be));
  await t.test("serve and login keep V8's code cache of the bundles they load, and their next start takes the code from it (Node 20; Node's own compile cache from 22.1)", (t) => codeCache(t, be));
  await t.test("with the daemon running, the bin answers token and credential-process itself: nothing of the CLI's bundle loads, nor node:http or crypto", (t) => binAnswers(t, be));
});

// These packages are loaded by the commands that need them, not by login with a password on
// stdin or by a daemon whose profile does not use them.
async function packagesLoaded(t: Test, be: BrokerEnv): Promise<void> {
  const login = await modulesLoaded(['login', '--password-stdin'], be.env, { input: `${be.stack.password}\n` });
  t.equal(login.code, 0, 'login signed in');
  const loginPackages = packagesIn(login.urls);
  t.ok(loginPackages.has('cognito-srp-helper') && loadedBundle(login.urls, 'aws-sdk-subset.cjs'), 'login loaded SRP and the Cognito clients', { loaded: [...loginPackages] });
  for (const name of ['@inquirer/input', '@inquirer/password', 'qrcode']) t.notOk(loginPackages.has(name), `login did not load ${name}: it showed no prompt`);

  const serve = await modulesLoaded(['serve'], be.env, { stopWhen: /AWS_CONTAINER_CREDENTIALS_FULL_URI=/ });
  const servePackages = packagesIn(serve.urls);
  t.ok(loadedBundle(serve.urls, 'fastify-subset.cjs') && loadedBundle(serve.urls, 'aws-sdk-subset.cjs'), 'serve loaded fastify and the Cognito clients', { ours: ourFiles(serve.urls) });
  for (const name of ['ajv', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', '@aws-sdk/client-sts', '@inquirer/input', 'qrcode']) {
    t.notOk(servePackages.has(name), `serve did not load ${name}`);
  }
  // The parts of the SDK the broker uses are bundled into one file (src/cognito/aws-sdk-subset.cts),
  // and so are fastify and pino (src/server/fastify-subset.cts, src/log/pino-subset.cts).
  for (const [name, packages] of [['login', loginPackages], ['serve', servePackages]] as const) {
    for (const pkg of ['@aws-sdk/client-cognito-identity-provider', '@aws-sdk/client-cognito-identity', '@smithy/core', '@aws-sdk/credential-provider-node']) {
      t.notOk(packages.has(pkg), `${name} loaded no file of ${pkg}`);
    }
  }
  for (const pkg of ['fastify', 'avvio', 'find-my-way', 'pino', 'sonic-boom']) t.notOk(servePackages.has(pkg), `serve loaded no file of ${pkg}`);
  // Without the SDK's default credential chain, which would search the machine for AWS
  // credentials and bring the SSO and sign-in clients: the build's stand-in is there instead.
  const bundle = readFileSync(compiledPath('src/cognito/aws-sdk-subset.cjs'), 'utf8');
  t.ok(bundle.includes('the default credential chain is not in the bundle'), "the SDK bundle has the stand-in for the default chain");
  for (const part of ['fromIni', 'fromSSO', 'fromTokenFile', 'SSOClient']) t.notOk(bundle.includes(part), `the SDK bundle has no ${part}`);
}

// The bin's bundle requires the copies of the package bundles beside it (scripts/bundle.mjs).
const PACKAGE_BUNDLES = { login: ['zod-subset.cjs', 'aws-sdk-subset.cjs'], serve: ['zod-subset.cjs', 'aws-sdk-subset.cjs', 'fastify-subset.cjs', 'pino-subset.cjs'] };

function loadedBundle(urls: readonly string[], file: string): boolean {
  return urls.some((url) => url.endsWith(`/dist/src/bundle/${file}`));
}

// Node 20's ES module loader reads a CommonJS file it imports three times (src/require-commonjs.ts),
// and every entry point of zod loads all its locales (src/config/zod-subset.cts): about 200 ms of
// serve's and login's start-up together.
const COMMONJS_PACKAGES = { login: ['@napi-rs/keyring'], serve: ['@napi-rs/keyring'] };

async function howPackagesLoad(t: Test, be: BrokerEnv): Promise<void> {
  const login = await modulesLoaded(['login', '--password-stdin'], be.env, { input: `${be.stack.password}\n` });
  t.equal(login.code, 0, 'login signed in');
  const serve = await modulesLoaded(['serve'], be.env, { stopWhen: /AWS_CONTAINER_CREDENTIALS_FULL_URI=/ });
  for (const [name, run] of [['login', login], ['serve', serve]] as const) {
    const loaded = packagesIn(run.urls);
    const imported = packagesIn(run.imported);
    t.ok(loadedBundle(run.urls, 'main.cjs') && !loadedBundle(run.imported, 'main.cjs'), `${name} ran the CLI's bundle, required, not imported`);
    // (The bin is the entry: node runs it through its ES module loader when a hook is
    // registered, as the recorder's is.)
    t.ok(ourFiles(run.imported).includes('cli/bin.cjs'), `the recorder saw what ${name}'s ES module loader loaded (the bin, so the check below can fail)`);
    t.same(ourFiles(run.imported).filter((file) => file !== 'cli/bin.cjs'), [], `${name} loaded none of our code through the ES module loader`);
    for (const pkg of COMMONJS_PACKAGES[name]) {
      t.ok(loaded.has(pkg) && !imported.has(pkg), `${name} loaded ${pkg} with require(), not through the ES module loader`, { imported: [...imported] });
    }
    for (const file of PACKAGE_BUNDLES[name]) {
      t.ok(loadedBundle(run.urls, file) && !loadedBundle(run.imported, file), `${name} loaded ${file} with require(), not through the ES module loader`);
    }
    t.notOk(loaded.has('zod'), `${name} loaded no file of the zod package (the parts it uses are bundled into zod-subset.cjs, one locale)`);
    // Users run the bin's bundle of our modules (scripts/bundle.mjs), and so do these runs:
    // none of tsc's output of each module, which the unit tests import.
    const notBundled = ourFiles(run.urls).filter((file) => file !== 'cli/bin.cjs' && !file.startsWith('bundle/'));
    t.same(notBundled, [], `${name} ran our code from the bundle alone`, { ours: ourFiles(run.urls) });
  }
}

// serve runs for days; by default V8 grows a process's young generation from 1 to 32 MB when it
// allocates much (serve under load), most of the daemon's peak memory (src/cli/daemon-heap.ts).
// The recorder allocates as a busy server does, in serve's own process, before it exits.
async function youngGeneration(t: Test, be: BrokerEnv): Promise<void> {
  const freshSize = freshNewSpaceBytes();
  const plain = (await heapAtExit(['-e', '0'], be.env)).spaces;
  t.ok((plain.new_space ?? 0) > 2 * freshSize, "the same allocation grows a plain node's new space beyond twice (so the check below can fail)", { newSpace: plain.new_space, freshSize });
  // Stopped once serve logs that its start-up is over (at debug level).
  const { spaces: serve, optimized } = await heapAtExit(['--allow-natives-syntax', CLI_BIN, 'serve', '--log-level', 'debug'], be.env, { stopWhen: /start-up over/ });
  t.ok((serve.old_space ?? 0) > 4 * 2 ** 20, "the record is serve's, after loading its modules", { oldSpace: serve.old_space });
  t.ok((serve.new_space ?? Infinity) <= 2 * freshSize, "serve's does not grow beyond twice", { newSpace: serve.new_space, freshSize });
  // serve starts with the optimizing compiler off (src/cli/daemon-heap.ts) and turns it on
  // once it listens and its first refreshes are over: the code that serves requests is
  // optimized as ever.
  t.equal(optimized, true, 'once start-up is over, V8 optimizes hot code again');
}

// Compiling the bundles of packages was half of loading them (src/require-bundle.ts).
async function codeCache(t: Test, be: BrokerEnv): Promise<void> {
  const cacheHome = join(be.dir, 'code-cache-test');
  const env = { ...be.env, XDG_CACHE_HOME: cacheHome };
  const dir = join(cacheHome, 'cognito-broker', 'compile-cache');
  const ours = !('enableCompileCache' in nodeModule);
  const startUp = async () => {
    const serve = await startServe(['--log-level', 'debug'], env);
    try {
      const deadline = Date.now() + 10_000;
      while (!/start-up over/.test(serve.stderr()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const line = serve.stderr().split('\n').find((l) => l.includes('start-up over'));
      return (JSON.parse(line ?? '{}') as { codeCache?: unknown }).codeCache;
    } finally {
      await serve.stop();
    }
  };
  const serveBundles = ['aws-sdk-subset.cjs', 'fastify-subset.cjs', 'main.cjs', 'pino-subset.cjs', 'zod-subset.cjs'];
  t.same(await startUp(), ours ? { used: 0, compiled: 5 } : { used: 0, compiled: 0 }, ours ? "the first serve compiled the CLI's bundle and its four of packages" : "Node's compile cache does it: ours is not used");
  const cached = () => readdirSync(dir).filter((f) => f.endsWith('.v8')).sort();
  // Named bundle.where.flags.key.v8 (src/require-bundle.ts).
  const named = (flags: string) => cached().filter((f) => f.split('.')[3] === flags).map((f) => f.split('.').slice(0, 2).join('.'));
  t.same(named('serve'), ours ? serveBundles : [], ours ? "and kept each one's code, under serve's V8 flags" : 'no code cache of ours');
  t.same(await startUp(), ours ? { used: 5, compiled: 0 } : { used: 0, compiled: 0 }, ours ? 'the next serve took all five from the cache' : '(still none)');
  const login = await runCli(['login', '--password-stdin'], env, `${be.stack.password}\n`);
  t.equal(login.code, 0, 'login signed in');
  t.ok(!ours || ['main.cjs', 'aws-sdk-subset.cjs', 'zod-subset.cjs'].every((b) => named('command').includes(b)), "login kept the code of the CLI's, the SDK's and zod's bundles under its own flags, as it exited", { cached: cached() });
}

// credential-process runs for every new AWS client, token in scripts: the bin (src/cli/bin.ts)
// answers them from the daemon as one CommonJS file, without the CLI's bundle.
async function binAnswers(t: Test, be: BrokerEnv): Promise<void> {
  const alone = await modulesLoaded(['token'], be.env);
  t.equal(alone.code, 0, 'token without a daemon: the keychain and Cognito, in-process');
  t.ok(ourFiles(alone.urls).includes('bundle/main.cjs'), "without a daemon, the CLI's bundle runs the whole command (so the checks below can fail)");
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  for (const [command, printed] of [['token', /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/], ['credential-process', /^\{"Version":1,"AccessKeyId":/]] as const) {
    const run = await modulesLoaded([command], be.env);
    t.equal(run.code, 0, `${command} answered`);
    t.match(run.stdout, printed, `${command} printed what it prints`);
    t.same(ourFiles(run.urls), ['cli/bin.cjs'], `${command}: of ours, the bin alone`);
    // Through the daemon's command socket, in one request of its own: neither Node's HTTP
    // client nor crypto (the proof a loopback listener must give), a third of a bare node's start.
    t.same(run.urls.filter((url) => url === 'node:http' || url === 'node:crypto'), [], `${command}: neither node:http nor node:crypto loaded`);
    t.ok(run.urls.includes('node:net'), `${command}: the record has Node's own modules (so the check above can fail)`);
  }
}
