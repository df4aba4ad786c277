/**
 * The layering rule, kept by a test rather than by memory (ARCHITECTURE.md):
 *   cli → app → server | broker → cognito | store → config → errors, log, require-commonjs, require-bundle, node-http
 * Arrows point down only; server never loads cognito or store (it may name their data types),
 * broker never imports server; and no file imports itself back through any chain.
 * Around src/, the trees of the repository point one way too: src/ imports nothing outside
 * itself; testkit/ (the doubles) only src/; test/, bench/ and scripts/ src/ and testkit/,
 * never one another.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';
import { REPO } from './support/paths.js';

const SRC = join(REPO, 'src');

/**
 * Folder → the folders its files may import at run time. `errors.ts` at the top is "errors",
 * `require-commonjs.ts` "require-commonjs", `require-bundle.ts` "require-bundle", `node-http.ts`
 * "node-http": like errors, a bottom
 * every layer may use.
 */
const BOTTOM = ['errors', 'require-commonjs', 'require-bundle', 'node-http'];
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  cli: ['app', 'server', 'broker', 'cognito', 'store', 'config', 'log', ...BOTTOM],
  app: ['server', 'broker', 'cognito', 'store', 'config', 'log', ...BOTTOM],
  server: ['broker', 'config', 'log', ...BOTTOM],
  broker: ['cognito', 'store', 'config', 'log', ...BOTTOM],
  cognito: ['config', 'log', ...BOTTOM],
  store: ['config', 'log', ...BOTTOM],
  config: BOTTOM,
  log: BOTTOM,
  errors: [],
  'require-commonjs': [],
  'require-bundle': [],
  'node-http': [],
};
/** Type-only imports load nothing: server may name the shapes cognito and store define. */
const ALLOWED_TYPES: Readonly<Record<string, readonly string[]>> = { server: ['cognito', 'store'] };

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules') return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const edges: Edge[] = [];
  const statement = /^(import|export)\s+(type\s+)?(?:[^;'"]*?\sfrom\s+)?'(\.{1,2}\/[^']+)';/gm;
  const dynamic = /import\('(\.{1,2}\/[^']+)'\)/g;
  for (const m of text.matchAll(statement)) edges.push({ from: file, to: resolveTs(file, m[3] as string), typeOnly: m[2] !== undefined });
  for (const m of text.matchAll(dynamic)) edges.push({ from: file, to: resolveTs(file, m[1] as string), typeOnly: false });
  // `import { type A, type B } from` is type-only too.
  return edges.map((e) => ({ ...e, typeOnly: e.typeOnly || isAllTypeNames(text, e.to, file) }));
}

function isAllTypeNames(text: string, target: string, file: string): boolean {
  for (const m of text.matchAll(/^import\s+\{([^}]*)\}\s+from\s+'(\.{1,2}\/[^']+)';/gm)) {
    if (resolveTs(file, m[2] as string) !== target) continue;
    const names = (m[1] as string).split(',').map((n) => n.trim()).filter(Boolean);
    return names.length > 0 && names.every((n) => n.startsWith('type '));
  }
  return false;
}

function resolveTs(from: string, spec: string): string {
  return normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts');
}

function layerOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes('/') ? (rel.split('/')[0] as string) : rel.replace(/\.ts$/, '');
}

const files = sourceFiles(SRC);
const edges = files.flatMap(importsOf);

/** The arrows that break the rule, as "from → to" lines. */
function violations(list: readonly Edge[]): string[] {
  return list
    .filter((e) => {
      const from = layerOf(e.from);
      const to = layerOf(e.to);
      if (from === to) return false;
      const allowed = [...(ALLOWED[from] ?? []), ...(e.typeOnly ? (ALLOWED_TYPES[from] ?? []) : [])];
      return !allowed.includes(to);
    })
    .map((e) => `${relative(SRC, e.from)} → ${relative(SRC, e.to)}${e.typeOnly ? ' (type)' : ''}`);
}

t.test('every import points down the layers', async (t) => {
  t.ok(edges.length > 100, `${edges.length} imports read`);
  t.same(violations(edges), [], 'no arrow runs back up or sideways');
  t.same(Object.keys(ALLOWED).filter((layer) => !files.some((f) => layerOf(f) === layer)), [], 'every layer named here exists');
  t.same([...new Set(files.map(layerOf))].filter((layer) => !(layer in ALLOWED)), [], 'every folder of src/ has a rule');
});

/** Every chain of run-time imports that comes back to where it started. */
function cyclesIn(list: readonly Edge[]): string[] {
  const graph = new Map<string, string[]>();
  for (const e of list) if (!e.typeOnly) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  return cycles;
}

t.test('no import cycle, not even inside a folder', async (t) => {
  t.same(cyclesIn(edges), []);
});

t.test('the check catches what it should: made-up arrows up and sideways', async (t) => {
  const edge = (from: string, to: string, typeOnly = false): Edge => ({ from: join(SRC, from), to: join(SRC, to), typeOnly });
  t.same(violations([edge('store/x.ts', 'broker/y.ts')]), ['store/x.ts → broker/y.ts'], 'store → broker');
  t.same(violations([edge('server/x.ts', 'store/y.ts')]), ['server/x.ts → store/y.ts'], 'server may not load store');
  t.same(violations([edge('server/x.ts', 'store/y.ts', true)]), [], 'but may name its types');
  t.same(violations([edge('broker/x.ts', 'server/y.ts', true)]), ['broker/x.ts → server/y.ts (type)'], 'broker knows nothing of HTTP, not even its types');
  t.same(violations([edge('errors.ts', 'config/y.ts')]), ['errors.ts → config/y.ts'], 'errors.ts imports nothing of ours');
  t.same(violations([edge('cli/x.ts', 'store/y.ts'), edge('app/x.ts', 'cognito/y.ts')]), [], 'down is fine');
  t.same(cyclesIn([edge('cli/a.ts', 'cli/b.ts'), edge('cli/b.ts', 'cli/a.ts')]), ['cli/a.ts → cli/b.ts → cli/a.ts'], 'a cycle inside one folder');
  t.same(cyclesIn([edge('cli/a.ts', 'cli/b.ts', true), edge('cli/b.ts', 'cli/a.ts')]), [], 'a type-only import closes no cycle');
});

/** Top-level tree → the trees its files may import. */
const TREES: Readonly<Record<string, readonly string[]>> = {
  src: [],
  testkit: ['src'],
  test: ['testkit', 'src'],
  bench: ['testkit', 'src'],
  scripts: ['testkit', 'src'],
};

function treeOf(file: string): string {
  return relative(REPO, file).split('/')[0] as string;
}

function treeViolations(list: readonly Edge[]): string[] {
  return list
    .filter((e) => treeOf(e.from) !== treeOf(e.to) && !(TREES[treeOf(e.from)] ?? []).includes(treeOf(e.to)))
    .map((e) => `${relative(REPO, e.from)} → ${relative(REPO, e.to)}`);
}

const treeEdges = Object.keys(TREES).flatMap((tree) => sourceFiles(join(REPO, tree))).flatMap(importsOf);

t.test('the trees point one way: src ← testkit ← test, bench, scripts', async (t) => {
  t.ok(treeEdges.filter((e) => treeOf(e.from) === 'testkit').length > 20, 'testkit/ is read too');
  t.same(treeViolations(treeEdges), [], 'src/ loads no double, testkit/ no test, test/ and bench/ not each other');
  t.same(cyclesIn(treeEdges.filter((e) => treeOf(e.from) === 'testkit')), [], 'no import cycle in testkit/');
  const edge = (from: string, to: string): Edge => ({ from: join(REPO, from), to: join(REPO, to), typeOnly: false });
  t.same(
    treeViolations([edge('src/a.ts', 'testkit/b.ts'), edge('testkit/a.ts', 'test/support/b.ts'), edge('bench/a.ts', 'test/support/b.ts'), edge('test/a.ts', 'scripts/b.ts')]),
    ['src/a.ts → testkit/b.ts', 'testkit/a.ts → test/support/b.ts', 'bench/a.ts → test/support/b.ts', 'test/a.ts → scripts/b.ts'],
    'the check catches made-up arrows',
  );
  t.same(treeViolations([edge('bench/a.ts', 'testkit/b.ts'), edge('testkit/a.ts', 'src/b.ts')]), [], 'and lets the right ones through');
});
