import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import t from 'tap';
import { IdentityCommandRunner, redactTokens } from '../../src/app/identity-command-runner.js';
import type { ProfileConfig } from '../../src/config/config.js';

function profile(command: string[], timeoutSeconds = 20): ProfileConfig {
  return {
    name: 'dev',
    region: 'eu-west-1',
    identityPoolId: 'eu-west-1:11111111-2222-3333-4444-555555555555',
    userPoolId: 'cognito-identity.amazonaws.com',
    clientId: 'eu-west-1:11111111-2222-3333-4444-555555555555',
    developerIdentity: { command, notSignedInExitCode: 77, timeoutSeconds },
  };
}

function capture(): { logger: Logger; text: () => string } {
  let text = '';
  const stream = new Writable({ write(chunk, _enc, done) { text += chunk.toString(); done(); } });
  return { logger: pino({ level: 'info' }, stream) as unknown as Logger, text: () => text };
}

const node = (script: string) => [process.execPath, '-e', script];

t.test('stdout is the result, never logged; stderr goes to the log with tokens redacted; the profile is in the environment', async (t) => {
  const log = capture();
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl';
  const script = `process.stderr.write('looking up ' + process.env.COGNITO_BROKER_PROFILE + ' ' + process.env.COGNITO_BROKER_INTERACTIVE + '\\nissued ${jwt}\\n'); process.stdout.write('{"Token":"${jwt}"}')`;
  const result = await new IdentityCommandRunner({ profile: profile(node(script)), interactive: false, logger: log.logger }).run();
  t.same([result.exitCode, result.signal, result.stdout], [0, null, `{"Token":"${jwt}"}`]);
  await new Promise((resolve) => setImmediate(resolve));
  t.match(log.text(), /looking up dev 0/, 'stderr lines in the log, the environment told it is in the background');
  t.match(log.text(), /issued \[redacted\]/);
  t.notMatch(log.text(), jwt.slice(0, 20), 'no token in the log');
});

t.test('a run past its timeout is killed, with what it started', async (t) => {
  const started = Date.now();
  const result = await new IdentityCommandRunner({ profile: profile(node('setInterval(() => {}, 1000)'), 1), interactive: false }).run();
  t.equal(result.timedOut, true);
  t.ok(Date.now() - started < 10_000, 'ended soon after the timeout');
});

t.test('exit codes and signals come back as they are; a missing program is a spawn error', async (t) => {
  const runner = (command: string[]) => new IdentityCommandRunner({ profile: profile(command), interactive: false });
  t.equal((await runner(node('process.exit(77)')).run()).exitCode, 77);
  t.equal((await runner(node("setInterval(() => {}, 1000); process.kill(process.pid, 'SIGKILL')")).run()).signal, 'SIGKILL');
  t.equal((await runner(['/nonexistent/identity-command']).run()).spawnError, 'ENOENT');
});

t.test('more stdout than a token answer is cut off and the command stopped', async (t) => {
  const result = await new IdentityCommandRunner({ profile: profile(node("setInterval(() => process.stdout.write('x'.repeat(65536)), 1)")), interactive: false }).run();
  t.equal(result.overflow, true);
  t.equal(result.stdout, '');
});

t.test('redactTokens keeps words and replaces what looks like a token or key', async (t) => {
  t.equal(redactTokens('user alice not found in ldap'), 'user alice not found in ldap');
  t.equal(redactTokens('key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end'), 'key [redacted] end');
  t.equal(redactTokens('t=eyJa.eyJb.sig'), 't=[redacted]');
});
