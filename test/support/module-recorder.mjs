/**
 * `node --import ./module-recorder.mjs ...`: appends the URL of every module the process
 * loads to MODULE_RECORD_FILE, one line each: "import URL" for what the ES module loader
 * loaded (through a load hook: each module goes through it, whatever imports it, CommonJS
 * files imported from an ES module included), "require URL" for what is in require's cache
 * when the process exits (every CommonJS file, however it was loaded), and "builtin node:ID"
 * for each of Node's own modules loaded by then (process.moduleLoadList, which has them all,
 * required or imported, Node's internal ones included).
 */
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const file = process.env.MODULE_RECORD_FILE;
if (file) {
  register('./module-recorder-hooks.mjs', import.meta.url, { data: { file } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const builtins = process.moduleLoadList.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => `builtin node:${entry.slice('NativeModule '.length)}`);
    const loaded = [...Object.keys(require.cache).map((path) => `require ${pathToFileURL(path).href}`), ...builtins];
    if (loaded.length > 0) appendFileSync(file, `${loaded.join('\n')}\n`);
  });
}
