import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CommandNotifier } from '../../src/app/command-notifier.js';
import type { SessionNotice } from '../../src/broker/session-notice.js';
import { createLogger } from '../../src/log/create-logger.js';
import { LogCapture } from '../support/session-harness.js';

const notice: SessionNotice = { profile: 'work', state: 'ends-soon', message: 'The sign-in of profile "work" ends in 23h59m; $(touch /tmp/pwned) `id`. Run: cognito-broker login --profile work', key: 'ends-soon:1' };

t.test('notify.command runs directly with the notice in its environment, its arguments as given, and none of the daemon\'s secrets', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'record.mjs');
  const record = join(dir, 'record.json');
  writeFileSync(script, "import { writeFileSync } from 'node:fs';\nwriteFileSync(process.argv[2], JSON.stringify({ args: process.argv.slice(3), env: process.env }));\n");
  const logs = new LogCapture();
  const daemonEnv = { PATH: process.env.PATH, HOME: dir, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'tok-secret', aws_secret_access_key: 'lower-secret', COGNITO_BROKER_CLIENT_SECRET: 'client-secret' };
  const notifier = new CommandNotifier([process.execPath, script, record, 'two words', '$HOME'], createLogger({ level: 'debug', destination: logs }), undefined, daemonEnv);
  await notifier.notify(notice);
  const seen = JSON.parse(readFileSync(record, 'utf8')) as { args: string[]; env: Record<string, string> };
  t.same(seen.args, ['two words', '$HOME'], 'no shell: arguments arrive as written');
  t.equal(seen.env.COGNITO_BROKER_PROFILE, 'work');
  t.equal(seen.env.COGNITO_BROKER_STATE, 'ends-soon');
  t.equal(seen.env.COGNITO_BROKER_MESSAGE, notice.message, 'the message as it is, shell characters and all');
  t.equal(seen.env.HOME, dir, 'the daemon\'s environment otherwise');
  for (const name of ['AWS_CONTAINER_AUTHORIZATION_TOKEN', 'aws_secret_access_key', 'COGNITO_BROKER_CLIENT_SECRET']) t.notOk(name in seen.env, `${name} withheld`);
  t.ok(logs.lines.some((l) => l.msg === 'notify.command ran'));
});

t.test('a command that fails or is missing is a warning in the log, never an error of the daemon', async (t) => {
  const logs = new LogCapture();
  const logger = createLogger({ level: 'debug', destination: logs });
  await new CommandNotifier([process.execPath, '-e', 'process.exit(3)'], logger).notify(notice);
  await new CommandNotifier(['/nonexistent/notify-me'], logger).notify(notice);
  t.match(logs.lines, [{ level: 40, msg: 'notify.command exited with 3', exitCode: 3 }, { level: 40, msg: 'notify.command could not be run (not found)' }]);
});
