import { pathToFileURL } from 'node:url';
import t from 'tap';
import { compiledPath } from '../support/paths.js';
import { freshNewSpaceBytes, heapSpacesAtExit } from '../support/recorded-runs.js';

const MODULE = pathToFileURL(compiledPath('src/cli/daemon-heap.ts')).href;

// The heap recorder allocates as a busy server does before the process exits. V8 may take one
// step up from where a process starts (1 to 2 MB on Node 20), not the steps to 32 MB that it
// takes by default.
t.test('the young generation stays within twice its starting size under allocation', async (t) => {
  const freshSize = freshNewSpaceBytes();
  const plain = await heapSpacesAtExit(['-e', '0'], process.env);
  t.ok((plain.new_space ?? 0) > 2 * freshSize, 'without the limit, the allocation grows the new space further (so the check below can fail)', { newSpace: plain.new_space, freshSize });
  const limited = await heapSpacesAtExit(['--input-type=module', '-e', `(await import(${JSON.stringify(MODULE)})).limitYoungGeneration();`], process.env);
  t.ok((limited.new_space ?? Infinity) <= 2 * freshSize, 'with it, it does not', { newSpace: limited.new_space, freshSize });
});
