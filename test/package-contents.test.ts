/**
 * What `npm pack` puts in the package, from package.json alone (no build, no install): what
 * runs and what explains it, never tests, benchmarks or emulators; every package the CLI
 * imports is a runtime dependency. test/integration/package-install.test.ts installs the
 * tarball and runs it.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { REPO } from './support/paths.js';
import { withoutTapHooks } from '../testkit/children.js';

const run = promisify(execFile);

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly license?: string;
  readonly bin: Record<string, string>;
  readonly files: string[];
  readonly scripts: Record<string, string>;
  readonly dependencies: Record<string, string>;
  readonly devDependencies: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as PackageJson;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The package a bare specifier names: 'jose/jwt/decode' → 'jose', '@smithy/core/checksum' → '@smithy/core'. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

t.test('a public MIT package with a bin, a LICENSE file and a build that starts from an empty dist/src', async (t) => {
  t.notOk(pkg.private, 'not private: npm publish and npm pack make the real thing');
  t.equal(pkg.license, 'MIT');
  t.match(readFileSync(join(REPO, 'LICENSE'), 'utf8'), /^MIT License\n[\s\S]*Permission is hereby granted, free of charge/);
  t.same(pkg.bin, { 'cognito-broker': 'dist/src/cli/bin.cjs' });
  t.match(pkg.scripts.prepare, /^npm run build$/, 'npm pack, npm publish, npm ci and npm link build dist/ first');
  t.match(pkg.scripts.build, /rmSync\('dist\/src'.*&& tsc -p tsconfig\.build\.json/, 'a file of a deleted source never ships');
  const build = JSON.parse(readFileSync(join(REPO, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  t.ok(build.include.includes('src') && !build.include.includes('test'), 'the build compiles src/ (and the repo\'s tools), not the tests');
});

t.test('every package src/ imports is a runtime dependency, not a development one', async (t) => {
  const imported = new Set<string>();
  for (const file of sourceFiles(join(REPO, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\(\s*|requireCommonJs<[^>]*>\(\s*)'([^'.][^']*)'/g)) {
      const specifier = m[1] as string;
      if (!specifier.startsWith('node:')) imported.add(packageOf(specifier));
    }
  }
  t.ok(imported.size > 10, `found the imports (${imported.size})`);
  for (const name of [...imported].sort()) {
    t.ok(Object.hasOwn(pkg.dependencies, name), `${name} is in dependencies`);
    t.notOk(Object.hasOwn(pkg.devDependencies, name), `${name} is not in devDependencies`);
  }
});

t.test('npm pack lists the bin and its bundle, README, LICENSE, the config example, docs and the relay; no tests, benchmarks, emulators, sources or maps', async (t) => {
  // --ignore-scripts: list what is built now, without rebuilding under other tests' feet.
  const { stdout } = await run(...withoutTapHooks('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']), { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
  const [report] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  const files = report.files.map((f) => f.path).sort();
  for (const wanted of ['package.json', 'README.md', 'LICENSE', 'config.example.json', 'config.local.example.json', pkg.bin['cognito-broker'] as string, 'dist/src/cli/main.js', 'dist/src/bundle/main.cjs', 'dist/src/bundle/import-package.cjs', 'dist/src/bundle/zod-subset.cjs', 'dist/src/bundle/aws-sdk-subset.cjs', 'dist/src/bundle/fastify-subset.cjs', 'dist/src/bundle/pino-subset.cjs', 'docs/commands.md', 'docker/relay/Dockerfile']) {
    t.ok(files.includes(wanted), `ships ${wanted}`);
  }
  const unwanted = files.filter((f) => /^(test|testkit|bench|scripts|src)\/|^dist\/(?!src\/)|\.(ts|map)$|^\.|^tsconfig|^package-lock/.test(f));
  t.same(unwanted, [], 'nothing of the tests, the test kit (testkit/), benchmarks, scripts, sources, maps or dev config');
  // What runs is the bin and the bundle of our modules (scripts/bundle.mjs); tsc's output of
  // each module is for the unit tests, and would double the package.
  const compiled = files.filter((f) => f.startsWith('dist/src/'));
  t.same(compiled.filter((f) => !['dist/src/cli/bin.cjs', 'dist/src/cli/main.js'].includes(f) && !/^dist\/src\/bundle\/[^/]+\.cjs$/.test(f)), [], "of dist/src/, the bin, main.js and the bundles alone: none of tsc's output of each module");
  t.ok(files.every((f) => f.startsWith('dist/src/') || f.startsWith('docs/') || f.startsWith('docker/relay/') || ['package.json', 'README.md', 'LICENSE', 'config.example.json', 'config.local.example.json'].includes(f)), 'only those');
});
