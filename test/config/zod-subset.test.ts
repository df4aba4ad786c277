import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { compiledPath } from '../support/paths.js';
import { withoutTapHooks } from '../../testkit/children.js';

const CONFIG = JSON.stringify({
  profiles: { work: { region: 'eu-west-1', userPoolId: 'eu-west-1_AbC123', clientId: 'abc123', identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666' } },
});

/**
 * In a fresh node, the code compiled with `new Function` (how zod's JIT compiles its parsers)
 * while our config modules load and parse a config; `jit` turns zod's JIT back on before them.
 */
function codeCompiledForAConfig(jit: boolean): number {
  const url = (source: string) => pathToFileURL(compiledPath(source)).href;
  const script = `
    const z = (await import('node:module')).createRequire(import.meta.url)(${JSON.stringify(compiledPath('src/config/zod-subset.cts').replace(/\.cts$/, '.cjs'))});
    if (${jit}) z.config({ jitless: false });
    let compiled = 0;
    globalThis.Function = new Proxy(Function, { construct(target, args) { compiled += 1; return Reflect.construct(target, args); } });
    const { parseConfig } = await import(${JSON.stringify(url('src/config/load-config.ts'))});
    parseConfig('/cfg.json', ${JSON.stringify(CONFIG)}, { configFile: '/cfg.json', stateDir: '/state' });
    console.log(compiled);`;
  const [command, args] = withoutTapHooks(process.execPath, ['--input-type=module', '-e', script]);
  const run = spawnSync(command, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return Number(run.stdout.trim());
}

// A process parses its config once: code compiled for that one parse costs more than it saves.
t.test("a config parses without zod's JIT: no code is compiled for it", async (t) => {
  t.equal(codeCompiledForAConfig(false), 0, 'none');
  t.ok(codeCompiledForAConfig(true) > 0, "with zod's JIT on, the same parse compiles its parsers (the check above can fail)");
});
