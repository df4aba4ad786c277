/**
 * package.json's engines.node is what we promise users. npm only warns (EBADENGINE) when a
 * dependency's own engines.node refuses the running Node, so nothing else would notice that
 * we promise a version a dependency does not accept: every package the lock file installs
 * for users (transitive, not dev-only) must accept every version our range admits (README
 * "Platforms"). Ranges are compared with `semver`, the package npm itself uses for them.
 */
import { readFileSync } from 'node:fs';
import semver from 'semver';
import t from 'tap';
import { repoPath } from './support/paths.js';

/** The Node majors we support and CI tests (README "Platforms", .ci/run). */
const SUPPORTED_MAJORS = [20, 22, 24] as const;

/**
 * Runtime packages whose declared engines.node we knowingly do not follow, with why. Each
 * must still be in the lock, still be runtime, and still refuse a version we admit.
 */
const KNOWN_EXCEPTIONS: Readonly<Record<string, string>> = {
  // Only light-my-request depends on it, and fastify requires light-my-request only inside
  // inject() (fastify.js), i.e. in our tests, never on a command's path. light-my-request is
  // CommonJS and cookie 2 ESM-only: Node 20 loads it through require(esm), unflagged since
  // 20.19.0, so the test suite (not the CLI) needs 20.19 or later (docs/platforms.md).
  'node_modules/cookie': 'declares >=22; loaded only by fastify.inject(), in tests',
};

interface LockPackage {
  readonly version?: string;
  readonly dev?: boolean;
  readonly engines?: { readonly node?: string } | readonly string[];
}

/** Every runtime package of the lock file that declares engines.node: [path, version, range]. */
function runtimeEngines(lock: { packages: Record<string, LockPackage> }): [string, string, string][] {
  return Object.entries(lock.packages).flatMap(([path, p]): [string, string, string][] => {
    if (path === '' || p.dev === true || p.engines === undefined) return [];
    // Very old packages give engines as ["node >= 0.4"]; none is installed for users today.
    if (Array.isArray(p.engines)) throw new Error(`${path}: engines as an array is not read here: ${JSON.stringify(p.engines)}`);
    const node = (p.engines as { node?: string }).node;
    return node === undefined ? [] : [[path, p.version ?? '?', node]];
  });
}

/** The lowest version of a Node major that a range admits, for messages. */
function lowestAdmitted(range: string, major: number): string | undefined {
  const part = range.split('||').find((alternative) => semver.intersects(alternative, `^${major}`));
  return part === undefined ? undefined : semver.minVersion(`${part} ^${major}`)?.version;
}

/** "path@version engines.node RANGE refuses part of OURS" for every runtime package that does. */
function refusals(ours: string, packages: readonly [string, string, string][]): Map<string, string> {
  const found = new Map<string, string>();
  for (const [path, version, range] of packages) {
    if (semver.subset(ours, range)) continue;
    const refused = SUPPORTED_MAJORS.map((m) => lowestAdmitted(ours, m)).filter((v) => v !== undefined && !semver.satisfies(v, range));
    found.set(path, `${path}@${version} engines.node ${JSON.stringify(range)} refuses part of ${JSON.stringify(ours)}${refused.length ? ` (e.g. Node ${refused.join(', ')})` : ''}`);
  }
  return found;
}

const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
const ours = pkg.engines.node;
const packages = runtimeEngines(lock);

t.test('engines admits every Node major we support, and the lock file and README say the same', async (t) => {
  for (const major of SUPPORTED_MAJORS) t.ok(semver.intersects(ours, `^${major}`), `Node ${major} is admitted by ${ours}`);
  t.same(lock.packages['']?.engines, pkg.engines, 'package-lock.json records the same engines (npm install writes it there)');
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const platforms = /^## Platforms\n([^]*?)^## /m.exec(readme)?.[1] ?? '';
  t.ok(platforms.includes(`\`${ours}\``), 'README "Platforms" states the engines range');
});

t.test('every runtime dependency accepts every Node version engines admits', async (t) => {
  t.ok(packages.length > 20, `${packages.length} runtime packages declare engines.node`);
  const found = refusals(ours, packages);
  const unexpected = [...found].filter(([path]) => !Object.hasOwn(KNOWN_EXCEPTIONS, path)).map(([, why]) => why);
  t.same(unexpected, [], `engines.node ${JSON.stringify(ours)} promises a version a dependency refuses: narrow engines or change the dependency`);
  for (const [path, why] of Object.entries(KNOWN_EXCEPTIONS)) {
    t.ok(found.has(path), `${path} is still installed for users and still refuses an admitted version (${why}); else remove the exception`);
  }
});

t.test('the check fails where it should: the old ">=20" promised Node 20 releases @inquirer refuses', async (t) => {
  const found = refusals('>=20', packages);
  t.match(found.get('node_modules/@inquirer/core'), /refuses part of ">=20"/);
  t.match(found.get('node_modules/mute-stream'), /refuses part of ">=20"/);
  t.notOk(found.has('node_modules/fastify'), 'and not a package that accepts them all');
});
