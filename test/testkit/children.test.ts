import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { withoutTapHooks } from '../../testkit/children.js';
import { repoPath } from '../support/paths.js';

const run = promisify(execFile);

t.test('withoutTapHooks drops tap\'s loader from NODE_OPTIONS and keeps the rest', async (t) => {
  const saved = process.env.NODE_OPTIONS;
  t.teardown(() => {
    process.env.NODE_OPTIONS = saved;
  });
  process.env.NODE_OPTIONS = '--import=file:///x/node_modules/@tapjs/processinfo/dist/esm/import.mjs "--import=file:///repo/preload.mjs" --max-old-space-size=100';
  t.same(withoutTapHooks('node', ['a.js']), ['env', ['NODE_OPTIONS="--import=file:///repo/preload.mjs" --max-old-space-size=100', 'node', 'a.js']]);
  process.env.NODE_OPTIONS = '--max-old-space-size=100';
  t.same(withoutTapHooks('npm', ['pack']), ['npm', ['pack']], 'nothing to drop: the command as it was');

  // Under tap (as now, unless someone runs this file with plain node) the child really runs with neither preload.
  process.env.NODE_OPTIONS = saved;
  const [command, args] = withoutTapHooks(process.execPath, ['-p', 'process.env.NODE_OPTIONS ?? ""']);
  const { stdout } = await run(command, args);
  t.notMatch(stdout, /processinfo|child-coverage/, 'the child\'s NODE_OPTIONS has no tap loader and no coverage preload');
});

const underTap = process.env.TAP === '1';
t.test('under tap, a child started with any env runs without tap\'s loader and reports coverage through child-coverage.mjs', { skip: underTap ? false : 'only under tap, which imports tap-children.mjs into each test process' }, async (t) => {
  const printOptions = ['-p', 'process.env.NODE_OPTIONS ?? ""'];
  const explicitEnv = (await run(process.execPath, printOptions, { env: { PATH: process.env.PATH } })).stdout;
  const inheritedEnv = (await run(process.execPath, printOptions)).stdout;
  for (const [how, options] of [['an env of its own', explicitEnv], ['the test\'s env', inheritedEnv]] as const) {
    t.notMatch(options, /processinfo/, `${how}: no tap loader`);
    if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '1') t.match(options, /child-coverage\.mjs/, `${how}: the coverage preload instead`);
  }
  // A grandchild (through a shell, as python, the AWS CLI or a pty start one) inherits the same.
  const grandchild = (await run('sh', ['-c', `"${process.execPath}" -p 'process.env.NODE_OPTIONS ?? ""'`])).stdout;
  t.notMatch(grandchild, /processinfo/, 'a grandchild: no tap loader either');
});

t.test('child-coverage.mjs writes V8 coverage of the repository\'s files where tap\'s report reads it, on exit and on a signal', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'child-coverage-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const script = join(root, 'work.mjs');
  writeFileSync(script, 'const f = (n) => n * 2; f(2); if (process.argv[2] === "wait") setInterval(() => {}, 1000); else console.log("done");\n');
  const env = { PATH: process.env.PATH, _TAPJS_PROCESSINFO_CWD_: root };
  const preload = `--import=${pathToFileURL(repoPath('test/support/child-coverage.mjs')).href}`;

  // Without tap's own loader, which would write its coverage there too and hold the signal.
  await run(...withoutTapHooks(process.execPath, [preload, script]), { env });
  const files = () => readdirSync(join(root, '.tap', 'coverage'));
  t.equal(files().length, 1, 'one coverage file after a normal exit');
  const coverage = JSON.parse(readFileSync(join(root, '.tap', 'coverage', files()[0] as string), 'utf8')) as { result: { url: string }[] };
  t.same(coverage.result.map((r) => r.url), [pathToFileURL(script).href], 'only the repository\'s own file');

  const waiting = execFile(...withoutTapHooks(process.execPath, [preload, script, 'wait']), { env, timeout: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  waiting.kill('SIGTERM');
  const signal = await new Promise((resolve) => waiting.once('exit', (_code, s) => resolve(s)));
  t.equal(signal, 'SIGTERM', 'a signal still ends the process as it would have');
  t.equal(files().length, 2, 'and its coverage is written first');
});
