import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { type CommandResult, service, type ServiceDeps } from '../../src/cli/service.js';
import { LAUNCHD_LABEL, systemdQuote } from '../../src/cli/service-files.js';
import { listenAddresses } from '../../src/app/listen-addresses.js';
import { isBrokerError } from '../../src/errors.js';
import { CLI_BIN as MAIN, runCli } from '../support/cli.js';

const run = promisify(execFile);
const PROFILE = {
  region: 'eu-west-1',
  userPoolId: 'eu-west-1_AbCdEf123',
  clientId: 'abc123',
  identityPoolId: 'eu-west-1:0b5f2f5e-1111-4222-8333-444455556666',
};
/** Must never reach a service file: only the variables the service needs are copied. */
const SECRET = 'client-secret-that-must-not-leak';

interface Fixture {
  home: string;
  configFile: string;
  calls: string[];
  deps: ServiceDeps;
  out: { stdout: string; stderr: string };
  run(argv: string[]): Promise<number>;
}

/**
 * A temp home (paths with a space, a percent sign and an ampersand, which unit files and
 * plists must escape), a config in it, and a fake service manager that records its commands.
 */
function fixture(t: Test, platform: NodeJS.Platform, answer: (command: string) => CommandResult = () => ({ code: 0, output: '' })): Fixture {
  const home = mkdtempSync(join(tmpdir(), 'cb service home & 100% '));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const configFile = join(home, 'config dir', 'config.json');
  mkdirSync(join(home, 'config dir'));
  writeFileSync(configFile, JSON.stringify({ profiles: { default: PROFILE, work: PROFILE } }));
  const calls: string[] = [];
  const out = { stdout: '', stderr: '' };
  const deps: ServiceDeps = {
    platform,
    home,
    env: {
      XDG_STATE_HOME: join(home, 'state'),
      COGNITO_BROKER_KEYCHAIN_SERVICE: 'cognito-broker-test',
      COGNITO_BROKER_CLIENT_SECRET: SECRET,
      AWS_SECRET_ACCESS_KEY: SECRET,
    },
    nodePath: process.execPath,
    cliPath: '/opt/cognito broker/dist/src/cli/bin.cjs',
    uid: 501,
    async run(file, args) {
      const command = [file, ...args].join(' ');
      calls.push(command);
      return answer(command);
    },
  };
  return {
    home, configFile, calls, deps, out,
    run: (argv) => service([...argv, '--config', configFile], { stdout: (s) => void (out.stdout += s), stderr: (s) => void (out.stderr += s) }, deps),
  };
}

/** `systemd-analyze verify` of the service unit and the socket unit beside it: exit 0 and not one warning. */
function verifyUnit(t: Test, file: string): void {
  let analyze: string | undefined;
  try {
    analyze = execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim();
  } catch {
    analyze = undefined;
  }
  if (!analyze) {
    if (process.env.CI) t.fail('systemd-analyze is needed in CI (apt-get install systemd)');
    else t.comment('SKIP: no systemd-analyze here');
    return;
  }
  // It wants the files named like the units; copies keep the odd temp path out of their names.
  const dir = mkdtempSync(join(tmpdir(), 'cb-verify-'));
  const copies = [join(dir, 'cognito-broker.service')];
  writeFileSync(copies[0] as string, readFileSync(file));
  const socket = join(file, '..', 'cognito-broker.socket');
  if (existsSync(socket)) {
    copies.push(join(dir, 'cognito-broker.socket'));
    writeFileSync(copies[1] as string, readFileSync(socket));
  }
  try {
    const output = execFileSync(analyze, ['verify', ...copies], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    t.equal(output, '', 'systemd-analyze verify: no output');
  } catch (error) {
    const { status, stderr } = error as { status: number; stderr: string };
    t.fail(`systemd-analyze verify failed (${status}): ${stderr}`);
  }
  // verify exits 0 even for keys it ignores: run it again capturing stderr.
  const check = execFileSync('sh', ['-c', `"$0" verify "$@" 2>&1`, analyze, ...copies], { encoding: 'utf8' });
  t.equal(check, '', 'systemd-analyze verify: no warning');
  rmSync(dir, { recursive: true, force: true });
}

/** Parses the plist with Python's plistlib (no plutil off macOS). */
function readPlist(file: string): Record<string, unknown> {
  const json = execFileSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', file], { encoding: 'utf8' });
  return JSON.parse(json) as Record<string, unknown>;
}

t.test('Linux: install writes a systemd user unit and enables it', async (t) => {
  const f = fixture(t, 'linux');
  t.equal(await f.run(['install']), 0);
  const unitFile = join(f.home, '.config', 'systemd', 'user', 'cognito-broker.service');
  const unit = readFileSync(unitFile, 'utf8');
  t.match(unit, `ExecStart=${process.execPath} "/opt/cognito broker/dist/src/cli/bin.cjs" serve --config ${systemdQuote(f.configFile, true)}\n`, 'absolute node, CLI and config');
  t.match(unit, /%%/, 'the % in the path is escaped for systemd');
  for (const line of ['Restart=on-failure', 'RestartSec=5', 'RestartPreventExitStatus=78', 'StandardOutput=null', 'StandardError=journal', 'KeyringMode=private', 'WantedBy=default.target']) {
    t.match(unit, new RegExp(`^${line}$`, 'm'), line);
  }
  t.match(unit, `Environment=${systemdQuote(`XDG_STATE_HOME=${join(f.home, 'state')}`, false)}\n`, 'the state dir, so env and exec find its daemon');
  t.match(unit, 'Environment=COGNITO_BROKER_KEYCHAIN_SERVICE=cognito-broker-test\n');
  t.notMatch(unit, SECRET, 'no secret from the environment');
  t.equal(statSync(unitFile).mode & 0o777, 0o644);
  t.match(unit, /^Requires=cognito-broker\.socket$/m, 'the service runs on the socket unit');
  const socketFile = join(f.home, '.config', 'systemd', 'user', 'cognito-broker.socket');
  t.equal(readFileSync(socketFile, 'utf8').split('\n').filter((l) => l.startsWith('Listen')).join('\n'), 'ListenStream=127.0.0.1:9911', 'the socket unit holds server.host:server.port');
  t.same(f.calls, [
    'systemctl --user daemon-reload',
    'systemctl --user enable cognito-broker.socket cognito-broker.service',
    'systemctl --user stop cognito-broker.service',
    'systemctl --user restart cognito-broker.socket',
    'systemctl --user restart cognito-broker.service',
  ], 'the service stops (it may hold the port), the socket takes the port, the service starts on it');
  t.match(f.out.stderr, /Wrote .*cognito-broker\.service/);
  t.match(f.out.stderr, /Enabled and started by the systemd user manager.*journalctl --user -u cognito-broker/s);
  t.match(f.out.stderr, /until you run 'cognito-broker login' for each profile \(--profile default, work\)/);
  verifyUnit(t, unitFile);

  f.calls.length = 0;
  t.equal(await f.run(['install']), 0);
  t.match(f.out.stderr, /Kept .*cognito-broker\.service/, 'a second install keeps the same file');
  t.equal(f.calls.at(-1), 'systemctl --user restart cognito-broker.service', 'and restarts the service');

  f.calls.length = 0;
  t.equal(await f.run(['uninstall']), 0);
  t.notOk(existsSync(unitFile), 'uninstall removes the unit');
  t.same(f.calls, ['systemctl --user disable --now cognito-broker.service cognito-broker.socket', 'systemctl --user daemon-reload']);
  t.notOk(existsSync(socketFile), 'and the socket unit');
  t.match(f.out.stderr, /Removed .*\nStopped and disabled by the systemd user manager/);
  t.equal(await f.run(['uninstall']), 0);
  t.match(f.out.stderr, /Not installed: there is no/);
});

t.test('Linux without a systemd user session: the unit is written, and what to run is said', async (t) => {
  const f = fixture(t, 'linux', () => ({ code: 1, output: 'Failed to connect to bus: No medium found' }));
  f.deps = { ...f.deps, env: { ...f.deps.env, XDG_CONFIG_HOME: join(f.home, 'xdg config') } };
  const out = { stdout: '', stderr: '' };
  const io = { stdout: (s: string) => void (out.stdout += s), stderr: (s: string) => void (out.stderr += s) };
  t.equal(await service(['install', '--config', f.configFile], io, f.deps), 0);
  t.ok(existsSync(join(f.home, 'xdg config', 'systemd', 'user', 'cognito-broker.service')), 'under $XDG_CONFIG_HOME/systemd/user');
  t.match(out.stderr, /Not started: could not reach the systemd user manager \(systemctl --user daemon-reload: Failed to connect to bus: No medium found/);
  t.match(out.stderr, /systemctl --user daemon-reload && systemctl --user enable cognito-broker\.socket cognito-broker\.service && systemctl --user stop cognito-broker\.service && systemctl --user restart cognito-broker\.socket && systemctl --user restart cognito-broker\.service/);
  t.same(f.calls, ['systemctl --user daemon-reload'], 'stops at the first failure');

  t.equal(await service(['status', '--config', f.configFile], io, f.deps), 3, 'status: exit 3, no daemon');
  t.match(out.stdout, /Service file: .*cognito-broker\.service \(installed\)/);
  t.match(out.stdout, /Daemon: not running/);
});

t.test('macOS: install writes a launchd agent and bootstraps it', async (t) => {
  const f = fixture(t, 'darwin');
  t.equal(await f.run(['install']), 0);
  const plistFile = join(f.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  const plist = readPlist(plistFile);
  const logFile = join(f.home, 'Library', 'Logs', 'cognito-broker', 'serve.log');
  t.same(plist, {
    Label: LAUNCHD_LABEL,
    ProgramArguments: [process.execPath, '/opt/cognito broker/dist/src/cli/bin.cjs', 'serve', '--config', f.configFile],
    EnvironmentVariables: { XDG_STATE_HOME: join(f.home, 'state'), COGNITO_BROKER_KEYCHAIN_SERVICE: 'cognito-broker-test' },
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 10,
    ProcessType: 'Background',
    StandardOutPath: '/dev/null',
    StandardErrorPath: logFile,
  }, 'every key, with the & and % in the paths intact');
  t.notMatch(readFileSync(plistFile, 'utf8'), SECRET);
  t.ok(statSync(join(f.home, 'Library', 'Logs', 'cognito-broker')).isDirectory(), 'the log directory exists for launchd');
  t.same(f.calls, [
    `launchctl bootout gui/501/${LAUNCHD_LABEL}`,
    `launchctl enable gui/501/${LAUNCHD_LABEL}`,
    `launchctl bootstrap gui/501 ${plistFile}`,
  ]);
  t.match(f.out.stderr, new RegExp(`Enabled and started by launchd.*Logs: ${logFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 's'));

  f.calls.length = 0;
  t.equal(await f.run(['uninstall']), 0);
  t.notOk(existsSync(plistFile));
  t.same(f.calls, [`launchctl bootout gui/501/${LAUNCHD_LABEL}`]);
});

t.test('macOS status reads launchctl print', async (t) => {
  const f = fixture(t, 'darwin', (command) => (command.startsWith('launchctl print') ? { code: 0, output: `${LAUNCHD_LABEL} = {\n\tstate = running\n\tpid = 4242\n}` } : { code: 0, output: '' }));
  t.equal(await f.run(['status']), 3);
  t.match(f.out.stdout, /launchd: running, pid 4242/);
});

t.test('Linux with server.port 0: no socket unit (a free port each start), and install says why', async (t) => {
  const f = fixture(t, 'linux');
  writeFileSync(f.configFile, JSON.stringify({ server: { port: 0 }, profiles: { default: PROFILE } }));
  t.equal(await f.run(['install']), 0);
  t.notOk(existsSync(join(f.home, '.config', 'systemd', 'user', 'cognito-broker.socket')));
  t.notMatch(readFileSync(join(f.home, '.config', 'systemd', 'user', 'cognito-broker.service'), 'utf8'), /cognito-broker\.socket/);
  t.match(f.out.stderr, /no socket unit: server\.port is 0/);
  t.same(f.calls, ['systemctl --user daemon-reload', 'systemctl --user enable cognito-broker.service', 'systemctl --user restart cognito-broker.service']);
});

t.test('Linux with server.host "localhost": the socket unit holds each address it resolves to', async (t) => {
  const f = fixture(t, 'linux');
  writeFileSync(f.configFile, JSON.stringify({ server: { host: 'localhost', port: 9911 }, profiles: { default: PROFILE } }));
  t.equal(await f.run(['install']), 0);
  const socket = readFileSync(join(f.home, '.config', 'systemd', 'user', 'cognito-broker.socket'), 'utf8');
  const expected = (await listenAddresses('localhost')).map((a) => `ListenStream=${a.includes(':') ? `[${a}]` : a}:9911`);
  t.same(socket.split('\n').filter((l) => l.startsWith('ListenStream=')), expected);
  verifyUnit(t, join(f.home, '.config', 'systemd', 'user', 'cognito-broker.service'));
});

t.test('usage errors, and Windows is pointed at the docs', async (t) => {
  const f = fixture(t, 'linux');
  await t.rejects(f.run([]), { code: 'BRK_ERR_USAGE' });
  await t.rejects(f.run(['start']), { code: 'BRK_ERR_USAGE', message: /service needs one of install, uninstall, status \(not "start"\)/ });
  const windows = fixture(t, 'win32');
  const error = await windows.run(['install']).then(() => undefined, (e: unknown) => e);
  t.ok(isBrokerError(error) && error.code === 'BRK_ERR_SERVICE_UNSUPPORTED', 'BRK_ERR_SERVICE_UNSUPPORTED');
  t.match((error as Error).message, /Task Scheduler/);
  t.same(windows.calls, [], 'nothing run');
});

t.test('systemdQuote: plain words as they are, others quoted and escaped', async (t) => {
  t.equal(systemdQuote('/usr/bin/node', true), '/usr/bin/node');
  t.equal(systemdQuote('/a b/c', true), '"/a b/c"');
  t.equal(systemdQuote('50%', true), '50%%');
  t.equal(systemdQuote('a$b', true), '"a$$b"');
  t.equal(systemdQuote('a$b', false), '"a$b"', 'Environment= does not expand variables');
  t.equal(systemdQuote('say "hi" \\o/', true), '"say \\"hi\\" \\\\o/"');
  t.throws(() => systemdQuote('two\nlines', true));
});

/**
 * A systemctl first on PATH that records its arguments and answers as systemctl does with no
 * user manager to talk to (a container, an ssh session without lingering): so the binary's
 * test never reaches this machine's real user manager, whatever it has.
 */
function fakeSystemctl(dir: string): { bin: string; calls: () => string[] } {
  const bin = join(dir, 'bin');
  const log = join(dir, 'systemctl-calls');
  mkdirSync(bin);
  writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n`, { mode: 0o755 });
  return { bin, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
}

t.test('through the CLI binary, in a temp HOME with no systemd user session', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'cb-service-bin-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const configFile = join(home, 'config.json');
  writeFileSync(configFile, JSON.stringify({ profiles: { default: PROFILE } }));
  const systemctl = fakeSystemctl(home);
  const env = { PATH: `${systemctl.bin}:${process.env.PATH}`, HOME: home, COGNITO_BROKER_CONFIG: configFile, COGNITO_BROKER_CLIENT_SECRET: SECRET };

  const install = await runCli(['service', 'install'], env);
  t.equal(install.code, 0, install.stderr);
  const unitFile = join(home, '.config', 'systemd', 'user', 'cognito-broker.service');
  const unit = readFileSync(unitFile, 'utf8');
  t.match(unit, `ExecStart=${process.execPath} ${realpathSync(MAIN)} serve --config ${configFile}\n`, 'this node, the real path of the built CLI, the config');
  t.notMatch(unit, SECRET);
  t.notMatch(unit, /^Environment=/m, 'nothing to copy from this environment');
  // No user manager answers: install says so and what to run.
  t.match(install.stderr, /Not started: could not reach the systemd user manager \(systemctl --user daemon-reload: Failed to connect to bus: No medium found\)[^]*\nStart it yourself, in your login session:\n  systemctl --user daemon-reload && /);
  t.same(systemctl.calls(), ['--user daemon-reload'], 'the fake systemctl was the one run, and install stopped at its failure');
  verifyUnit(t, unitFile);

  const status = await runCli(['service', 'status'], env);
  t.equal(status.code, 3);
  t.match(status.stdout, /\(installed\)[^]*Failed to connect to bus[^]*Daemon: not running/);
  const uninstall = await runCli(['service', 'uninstall'], env);
  t.equal(uninstall.code, 0, uninstall.stderr);
  t.notOk(existsSync(unitFile));
  t.same(systemctl.calls().slice(1), ['--user is-enabled cognito-broker.service', '--user is-active cognito-broker.service', '--user disable --now cognito-broker.service cognito-broker.socket', '--user daemon-reload'], 'status and uninstall asked the fake too');
  const help = await runCli(['service', '--help'], env);
  t.match(help.stdout, /Usage: cognito-broker service install\|uninstall\|status/);
  t.ok((await run(process.execPath, [MAIN, '--help'])).stdout.includes('service '), 'listed in the main help');
});
