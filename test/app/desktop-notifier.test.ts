import t from 'tap';
import { DesktopNotifier, desktopAttempts, gvariantString } from '../../src/app/desktop-notifier.js';
import type { RunProgram } from '../../src/app/notifier.js';
import type { SessionNotice } from '../../src/broker/session-notice.js';
import { createLogger } from '../../src/log/create-logger.js';
import { LogCapture } from '../support/session-harness.js';

const notice: SessionNotice = { profile: 'work', state: 'login-required', message: 'Profile "work" must sign in again (it\'s revoked). Run: cognito-broker login --profile work', key: 'k' };

/** A RunProgram that records what it was asked and answers from `outcomes` by program name. */
function recorder(outcomes: Record<string, { code: number } | { error: string }>) {
  const calls: { file: string; args: readonly string[]; env: NodeJS.ProcessEnv }[] = [];
  const run: RunProgram = async (file, args, { env }) => {
    calls.push({ file, args, env });
    return outcomes[file] ?? { error: 'ENOENT' };
  };
  return { calls, run };
}

t.test('Linux: gdbus first; notify-send when gdbus is missing; the text never leaves a quoted argument', async (t) => {
  const { calls, run } = recorder({ 'notify-send': { code: 0 } });
  const logs = new LogCapture();
  await new DesktopNotifier(createLogger({ level: 'debug', destination: logs }), 'linux', run, { PATH: '/bin', AWS_SESSION_TOKEN: 'secret' }).notify(notice);
  t.same(calls.map((c) => c.file), ['gdbus', 'notify-send']);
  t.notOk('AWS_SESSION_TOKEN' in (calls[0]?.env ?? {}), 'no secret handed on');
  t.same(calls[1]?.args, ['--urgency=critical', '--app-name=cognito-broker', '--', 'cognito-broker: "work" needs a login', notice.message]);
  t.ok(logs.lines.some((l) => l.msg === 'desktop notification sent' && l.via === 'notify-send'));
  t.equal(gvariantString("it's a \\ test"), "'it\\'s a \\\\ test'");
  const gdbus = desktopAttempts('linux', 'S', notice)[0]?.args ?? [];
  t.ok(gdbus.includes(gvariantString(notice.message)), 'gdbus gets the body as a GVariant string literal');
  t.ok(gdbus.indexOf('--') < gdbus.indexOf(gvariantString(notice.message)), 'after "--": nothing is taken for an option');
});

t.test('no desktop: warned once, then quiet', async (t) => {
  const { run } = recorder({ gdbus: { code: 1 } });
  const logs = new LogCapture();
  const notifier = new DesktopNotifier(createLogger({ level: 'debug', destination: logs }), 'linux', run, {});
  await notifier.notify(notice);
  await notifier.notify(notice);
  const warnings = logs.lines.filter((l) => l.level === 40);
  t.equal(warnings.length, 1);
  t.match(warnings[0], { msg: /no desktop notification could be shown.*"notify": \{"desktop": false\}/, tried: ['gdbus: exit 1', 'notify-send: not installed'] });
});

t.test('macOS: osascript with the text as arguments, not in the script', async (t) => {
  const [attempt] = desktopAttempts('darwin', 'Summary "quoted"', notice);
  t.equal(attempt?.file, 'osascript');
  t.same(attempt?.args.slice(-2), ['Summary "quoted"', notice.message]);
  t.notOk(attempt?.args.slice(0, -2).some((a) => a.includes('work')), 'no text of the notice in the script');
  t.same(desktopAttempts('win32', 'S', notice), [], 'Windows: none (notify.command instead)');
});
