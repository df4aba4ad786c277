/**
 * Imported into every test process (.taprc's node-arg). tap's process-info loader adds itself
 * to the NODE_OPTIONS of every child a test starts, whatever env the test passes; on Node 20
 * it runs a hooks thread that roughly doubles a Node child's start-up CPU, in the CLI, in the
 * SDK scripts, and in what python, the AWS CLI and a pty start in turn. This takes it out of
 * each child's NODE_OPTIONS again and, when tap collects coverage, puts child-coverage.mjs in
 * its place: the children's coverage of our files still reaches tap's report.
 *
 * The hook is process-on-spawn's, the module tap's loader registers itself with: listeners run
 * in the order they were added, so this one sees the options after tap's.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
// Compiled, as the tests are: npm test builds dist/ before tap starts.
import { withoutTapLoader } from '../../dist/testkit/children.js';

const CHILD_COVERAGE = `--import=${fileURLToPath(new URL('./child-coverage.mjs', import.meta.url))}`;

const fromProcessInfo = createRequire(fileURLToPath(import.meta.resolve('@tapjs/processinfo')));
const processOnSpawn = fromProcessInfo('process-on-spawn');

processOnSpawn.addListener((options) => {
  const env = options.env ?? {};
  const before = env.NODE_OPTIONS ?? '';
  const without = withoutTapLoader(before);
  if (without === before.trim()) return options;
  const coverage = env._TAPJS_PROCESSINFO_COVERAGE_ === '1' && !without.includes(CHILD_COVERAGE) ? CHILD_COVERAGE : '';
  options.env = { ...env, NODE_OPTIONS: [without, coverage].filter(Boolean).join(' ') };
  return options;
});
