/**
 * package.json's engines.node is what we promise users. npm only warns (EBADENGINE) when a
 * dependency's own engines.node refuses the running Node, so nothing else would notice that
 * we promise a version a dependency does not accept: every package the lock file installs
 * for users (transitive, not dev-only) must accept every version our range admits, in each
 * major we support and test (README "Platforms").
 *
 * The ranges are read by a small reader of npm's range syntax rather than the `semver`
 * package: semver is here only as fastify's dependency, with no types, and the forms the
 * lock file uses are few. The reader throws on any form it does not know, so a new one fails
 * the test instead of passing unread.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';

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
  // 20.19.0, so the test suite (not the CLI) needs 20.19 or later (README "Platforms").
  'node_modules/cookie': 'declares >=22; loaded only by fastify.inject(), in tests',
};

type Version = readonly [number, number, number];
/** [from, to): from included, to excluded. */
type Interval = readonly [Version, Version];

const INFINITY: Version = [Infinity, 0, 0];
const ZERO: Version = [0, 0, 0];

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** "20.17.0", "10", "10.x", "8.*": the numbers given (null where a wildcard or missing). */
function parsePartial(text: string, range: string): [number | null, number | null, number | null] {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/.exec(text);
  if (!m) throw new Error(`cannot read the version ${JSON.stringify(text)} in the range ${JSON.stringify(range)}`);
  const num = (s: string | undefined) => (s === undefined || /^[xX*]$/.test(s) ? null : Number(s));
  const parts = [num(m[1]), num(m[2]), num(m[3])] as [number | null, number | null, number | null];
  // "10.x.5" is not a version: nothing after a wildcard.
  if ((parts[0] === null && (parts[1] !== null || parts[2] !== null)) || (parts[1] === null && parts[2] !== null)) {
    throw new Error(`cannot read the version ${JSON.stringify(text)} in the range ${JSON.stringify(range)}`);
  }
  return parts;
}

/** The interval of one comparator, npm's rules: https://docs.npmjs.com/cli/v10/configuring-npm/package-json#dependencies */
function comparatorInterval(text: string, range: string): Interval {
  const m = /^(>=|<=|>|<|=|\^|~)?(.*)$/.exec(text) as RegExpExecArray;
  const op = m[1] ?? '=';
  const [major, minor, patch] = parsePartial(m[2] as string, range);
  if (major === null) return op === '<' || op === '>' ? [ZERO, ZERO] : [ZERO, INFINITY];
  const low: Version = [major, minor ?? 0, patch ?? 0];
  // The first version after everything the partial version names (10 → 11.0.0, 10.2 → 10.3.0).
  const next: Version = minor === null ? [major + 1, 0, 0] : patch === null ? [major, minor + 1, 0] : [major, minor, patch + 1];
  switch (op) {
    case '>=': return [low, INFINITY];
    case '>': return [next, INFINITY];
    case '<': return [ZERO, low];
    case '<=': return [ZERO, next];
    case '=': return [low, next];
    case '~': return [low, minor === null ? [major + 1, 0, 0] : [major, minor + 1, 0]];
    default: // '^': the left-most non-zero part stays.
      return [low, major > 0 || minor === null ? [major + 1, 0, 0] : minor > 0 || patch === null ? [major, minor + 1, 0] : [major, minor, patch + 1]];
  }
}

/** A range as a union of intervals: "A || B", each a set of comparators that all hold. */
function readRange(range: string): Interval[] {
  if (/\s-\s/.test(range)) throw new Error(`hyphen ranges are not read here: ${JSON.stringify(range)}`);
  return range.split('||').map((alternative) => {
    const comparators = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return comparators.map((c) => comparatorInterval(c, range)).reduce<Interval>(
      ([from, to], [f, e]) => [compare(f, from) > 0 ? f : from, compare(e, to) < 0 ? e : to],
      [ZERO, INFINITY],
    );
  });
}

function satisfies(range: string, version: Version): boolean {
  return readRange(range).some(([from, to]) => compare(version, from) >= 0 && compare(version, to) < 0);
}

const show = (v: Version) => v.join('.');

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

/**
 * The versions our range admits in each supported major, one for each stretch of versions in
 * which every range in play says the same: the major's first version and every bound any of
 * the ranges names in it. Intervals are [from, to), so membership only changes at a bound:
 * checking these is checking every version of the major.
 */
function admittedVersions(ours: string, others: readonly string[]): Version[] {
  const bounds = [ours, ...others].flatMap(readRange).flatMap(([from, to]) => [from, to]);
  return SUPPORTED_MAJORS.flatMap((major) => {
    const candidates = [[major, 0, 0] as Version, ...bounds.filter((b) => b[0] === major)];
    const unique = [...new Map(candidates.map((v) => [show(v), v])).values()].sort(compare);
    return unique.filter((v) => satisfies(ours, v));
  });
}

/** "path@version engines.node RANGE refuses Node X, Y" for every runtime package that refuses an admitted version. */
function refusals(ours: string, packages: readonly [string, string, string][]): Map<string, string> {
  const admitted = admittedVersions(ours, packages.map(([, , range]) => range));
  const found = new Map<string, string>();
  for (const [path, version, range] of packages) {
    const refused = admitted.filter((v) => !satisfies(range, v));
    if (refused.length > 0) found.set(path, `${path}@${version} engines.node ${JSON.stringify(range)} refuses Node ${refused.map(show).join(', ')}`);
  }
  return found;
}

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, LockPackage> };
const ours = pkg.engines.node;
const packages = runtimeEngines(lock);

t.test('the range reader follows npm on the forms the lock file uses', async (t) => {
  const cases: [string, string, boolean][] = [
    ['^20.17.0', '20.16.9', false], ['^20.17.0', '20.17.0', true], ['^20.17.0', '20.99.0', true], ['^20.17.0', '21.0.0', false],
    ['>=20', '20.0.0', true], ['>=20', '19.99.99', false], ['>= 10.x', '10.0.0', true], ['>= 10.x', '9.9.9', false],
    ['6.* || 8.* || >= 10.*', '7.1.0', false], ['6.* || 8.* || >= 10.*', '8.9.0', true], ['10.x', '11.0.0', false],
    ['>=23.5.0 || ^22.13.0 || ^20.17.0', '22.12.9', false], ['>=23.5.0 || ^22.13.0 || ^20.17.0', '22.13.0', true],
    ['>=23.5.0 || ^22.13.0 || ^20.17.0', '23.4.0', false], ['>=23.5.0 || ^22.13.0 || ^20.17.0', '24.0.0', true],
    ['^20.17.0 || >=22.9.0', '22.8.0', false], ['^12.20.0 || ^14.13.1 || >=16.0.0', '15.0.0', false],
    ['*', '0.1.0', true], ['>=1.2.3 <2', '1.9.0', true], ['>=1.2.3 <2', '2.0.0', false], ['~1.2', '1.3.0', false],
    ['^0.2.3', '0.3.0', false], ['<=20', '20.5.0', true], ['<=20', '21.0.0', false], ['>20', '20.9.0', false],
  ];
  for (const [range, version, expected] of cases) {
    t.equal(satisfies(range, version.split('.').map(Number) as unknown as Version), expected, `${version} in ${range}`);
  }
  t.throws(() => readRange('1.0.0 - 2.0.0'), /hyphen/);
  t.throws(() => readRange('>=20.0.0-rc.1'), /cannot read/);
});

t.test('engines admits every Node major we support, and the lock file says the same', async (t) => {
  const admitted = admittedVersions(ours, packages.map(([, , r]) => r));
  for (const major of SUPPORTED_MAJORS) t.ok(admitted.some((v) => v[0] === major), `Node ${major} is admitted by ${ours}`);
  t.comment(`the lowest admitted per major: ${SUPPORTED_MAJORS.map((m) => admitted.find((v) => v[0] === m)).filter(Boolean).map((v) => show(v as Version)).join(', ')}`);
  t.same(lock.packages['']?.engines, pkg.engines, 'package-lock.json records the same engines (npm install writes it there)');
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
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
  t.match(found.get('node_modules/@inquirer/core'), /refuses Node 20\.0\.0.*22\.0\.0/);
  t.match(found.get('node_modules/mute-stream'), /refuses Node 20\.0\.0.*22\.0\.0/);
  t.notOk(found.has('node_modules/fastify'), 'and not a package that accepts them all');
});
