import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot, packageVersion } from '../../src/cli/package-root.js';
import { REPO } from '../support/paths.js';

// The version, the relay's Dockerfile and the bin a service runs are found from the package
// root, wherever the module runs (tsc's output here; the installed bundle in
// test/integration/package-install.test.ts, whose --version comes from it).
t.test('packageRoot finds the directory of our package.json upwards from the module', async (t) => {
  t.equal(packageRoot(), REPO);
  t.equal(packageVersion(), (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version);
});
