import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import t from 'tap';
import { compiledPath } from './support/paths.js';

// From Node 22 on, an ES import of node:http loads Node's bundled undici for the life of the
// process (src/node-http.ts). On a Node that does not, there is nothing to check, and the test
// says so; CI runs it on Node 22 and 24 too.
t.test("importing our modules loads none of Node's undici", async (t) => {
  const loadsUndici = (code: string) => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', `${code}\nconsole.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`], { encoding: 'utf8' });
    t.equal(run.status, 0, run.stderr);
    return JSON.parse(run.stdout.trim().split('\n').pop() ?? '[]') as string[];
  };
  if (loadsUndici("import { STATUS_CODES } from 'node:http';").length === 0) {
    t.skip(`Node ${process.version} loads no undici for an ES import of node:http: nothing to check`, () => {});
    return;
  }
  const root = dirname(compiledPath('src/errors.ts'));
  // Every module but the entry points, which run the CLI when imported (the bundles are .cjs:
  // the CLI's bundle runs the CLI too).
  const loaded = loadsUndici(`
    import { readdirSync } from 'node:fs';
    import { join } from 'node:path';
    const entryPoints = new Set(['cli/main.js', 'cli/bin.js']);
    for (const file of readdirSync(${JSON.stringify(root)}, { recursive: true })) {
      if (file.endsWith('.js') && !entryPoints.has(file)) await import(join(${JSON.stringify(root)}, file));
    }`);
  t.same(loaded, [], 'none');
});
