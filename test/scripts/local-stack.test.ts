import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { compiledPath } from '../support/paths.js';

const SCRIPT = compiledPath('scripts/local-stack.ts');

t.test('running the script prints the profile and stops on SIGINT without leaving cognito-local', async (t) => {
  const child = spawn(process.execPath, [SCRIPT, '--id-token-seconds', '30'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A failed check must not leave the stack running.
  t.teardown(() => void child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "stack up" line:\n${stderr}`)), 30_000);
    child.stderr.on('data', () => {
      if (stderr.includes('local stack up')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`script exited:\n${stderr}`)));
  });
  const summary = JSON.parse(stdout) as { profile: { endpoints: { cognitoIdp: string } }; user: { username: string; password: string } };
  t.match(summary, { profile: { username: 'test-user' }, user: { username: 'test-user', password: /\S{8,}/ }, loginsKey: /^127\.0\.0\.1:\d+\/local_/ });
  const health = await fetch(`${summary.profile.endpoints.cognitoIdp}/health`);
  t.equal(health.status, 200);
  child.kill('SIGINT');
  const [code] = await exited;
  t.equal(code, 0);
  await t.rejects(fetch(`${summary.profile.endpoints.cognitoIdp}/health`, { signal: AbortSignal.timeout(2000) }), 'cognito-local is gone');
});

t.test('an unknown option is named, and nothing is started', async (t) => {
  const child = spawn(process.execPath, [SCRIPT, '--colour', 'red'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = await once(child, 'exit');
  t.equal(code, 1);
  t.match(stderr, /Unknown option --colour \(see --help\)/);
});
