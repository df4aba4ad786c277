/**
 * The package as a user gets it: `npm pack`, then `npm install -g` of the tarball into a
 * prefix of its own (dependencies from npm's cache where it has them, runtime ones only, as
 * a global install does), then `login`, `serve` and a real AWS SDK through `env`, each run
 * from that install's bin, against the local stack and a private Secret Service.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { clientEnv, jsSdkClient } from '../support/aws-clients.js';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { REPO } from '../support/paths.js';
import { withoutTapHooks } from '../../testkit/children.js';

const run = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
/** npm pack and the install together, on a loaded 2-core machine with a warm cache. */
const INSTALL_BUDGET_MS = 90_000;
const SERVE_READY_TIMEOUT_MS = 20_000;

interface Output {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the installed bin as a shell would: by its path, its `#!/usr/bin/env node` line finding node on PATH. */
function runBin(bin: string, args: readonly string[], env: NodeJS.ProcessEnv, input = ''): Promise<Output> {
  const child = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, input);
}

async function collect(child: ChildProcess, input: string): Promise<Output> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin?.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

function exportsOf(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], (m[2] as string).replace(/^'(.*)'$/, '$1')]));
}

function listTree(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((e) => {
    const path = base ? `${base}/${e.name}` : e.name;
    return e.isDirectory() && e.name !== 'node_modules' ? [`${path}/`, ...listTree(dir, path)] : [path];
  });
}

t.test('npm pack, npm install -g into a temporary prefix, then login, serve and a real SDK from that install', async (t) => {
  if (!requireSecretService(t)) return;
  const work = mkdtempSync(join(tmpdir(), 'cognito-broker-package-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const prefix = join(work, 'prefix');

  const started = performance.now();
  // dist/ is what `npm test` just built; --ignore-scripts keeps npm pack from rebuilding it
  // under the other tests running from it (the build a real `npm pack` runs is `prepare`).
  const packed = await run(...withoutTapHooks('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work]), { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
  const tarball = join(work, (JSON.parse(packed.stdout) as [{ filename: string }])[0].filename);
  const packedMs = performance.now() - started;
  await run(...withoutTapHooks('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--omit=dev', '--no-audit', '--no-fund', tarball]), { cwd: work, maxBuffer: 16 * 1024 * 1024 });
  const installMs = performance.now() - started - packedMs;
  t.comment(`npm pack ${(packedMs / 1000).toFixed(1)} s, npm install -g ${(installMs / 1000).toFixed(1)} s`);
  t.ok(packedMs + installMs < INSTALL_BUDGET_MS, `pack and install within ${INSTALL_BUDGET_MS / 1000} s`);

  const bin = join(prefix, 'bin', 'cognito-broker');
  const installed = join(prefix, 'lib', 'node_modules', 'cognito-broker');
  t.ok(existsSync(bin), 'npm linked the bin into the prefix');
  const tree = listTree(installed);
  for (const absent of ['test/', 'bench/', 'scripts/', 'src/', 'dist/test/', 'dist/scripts/', 'dist/bench/']) t.notOk(tree.includes(absent), `no ${absent} in the installed package`);
  t.same(tree.filter((f) => f.endsWith('.ts') || f.endsWith('.map')), [], 'no TypeScript sources or source maps');
  for (const present of ['LICENSE', 'README.md', 'config.example.json', 'dist/src/cli/bin.cjs', 'dist/src/cli/main.js', 'dist/src/bundle/main.cjs']) t.ok(tree.includes(present), `${present} is installed`);
  t.notOk(existsSync(join(installed, 'node_modules', 'cognito-local')), 'no development dependency (cognito-local) came along');

  const be = await startBrokerEnv();
  t.teardown(() => be.stop());
  // The node running this test first on PATH: the bin's `#!/usr/bin/env node` finds it.
  const env = { ...be.env, PATH: `${dirname(process.execPath)}${delimiter}${be.env.PATH ?? ''}`, NODE_NO_WARNINGS: '1' };

  const version = await runBin(bin, ['--version'], env);
  t.same([version.code, version.stdout], [0, `${VERSION}\n`], '--version prints the package version');
  const help = await runBin(bin, ['--help'], env);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: cognito-broker <command>[\s\S]*login[\s\S]*serve/);
  const loginHelp = await runBin(bin, ['login', '--help'], env);
  t.match(loginHelp.stdout, /Usage: cognito-broker login/, 'a command\'s help loads its module from the install');

  const login = await runBin(bin, ['login', '--password-stdin'], env, `${be.stack.password}\n`);
  t.equal(login.code, 0, login.stderr);
  t.match(login.stderr, /Signed in as /);

  const serve = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void (serve.exitCode === null && serve.kill('SIGKILL')));
  let serveOut = '';
  let serveErr = '';
  serve.stdout.on('data', (d: Buffer) => (serveOut += d.toString()));
  serve.stderr.on('data', (d: Buffer) => (serveErr += d.toString()));
  const deadline = Date.now() + SERVE_READY_TIMEOUT_MS;
  while (!/AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/.test(serveOut)) {
    if (serve.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start (exit ${serve.exitCode}): ${serveErr.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  // What a user's shell does: eval "$(cognito-broker env)".
  const shell = await runBin(bin, ['env'], env);
  t.equal(shell.code, 0, shell.stderr);
  const exported = exportsOf(shell.stdout);
  t.match(exported.AWS_CONTAINER_CREDENTIALS_FULL_URI, /^http:\/\/127\.0\.0\.1:\d+\//);
  const sdk = await jsSdkClient({ region: be.stack.region, stsUrl: be.stack.stsUrl, env: clientEnv(env, exported, Object.keys(exported)) }, 'default-chain');
  t.match(sdk.arn, /assumed-role/, 'the AWS SDK for JavaScript made a signed call with the installed broker\'s credentials');
  t.ok(be.stack.emulator.issued.has(sdk.accessKeyId), 'credentials the identity pool issued');

  serve.kill('SIGTERM');
  const [code] = (await once(serve, 'exit')) as [number | null];
  t.equal(code, 0, 'serve stops cleanly');
});
