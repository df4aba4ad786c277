/**
 * `npm test`'s first step (package.json's pretest). npm installs tap built with its default
 * plugins, TypeScript's loader among them; .taprc leaves that loader out, and tap rebuilds
 * itself to match, but only once its runner is loaded, so the first run after `npm ci` (every
 * CI run) would start each test process with the loader anyway, a few CPU-seconds each. This
 * builds tap's plugin set first when it still has the loader.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The built Test class lists its plugins in `export const signature = \`...\``; importing it
// outside a test would start tap, so it is read as text.
const built = readFileSync(fileURLToPath(import.meta.resolve('@tapjs/test/test-built')), 'utf8');
const signature = /^export const signature = `([^`]*)`/m.exec(built);
if (!signature) throw new Error('tap-plugins.mjs: no plugin signature in @tapjs/test; has tap changed how it builds?');
if (signature[1].split('\n').includes('@tapjs/typescript')) {
  console.error('tap is built with its TypeScript loader, which .taprc leaves out: `tap build` first');
  execFileSync('npx', ['--no-install', 'tap', 'build'], { stdio: 'inherit' });
}
