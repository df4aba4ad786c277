import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { requireSecretService } from '../support/broker-env.js';
import { startKeychainWorker, startSecretService } from '../support/secret-service.js';
import { REPO } from '../support/paths.js';

const DEMO = join(REPO, 'dist', 'scripts', 'demo.js');
const DEMO_TIMEOUT_MS = 90_000;
const POLL_INTERVAL_MS = 50;

t.test('the demo signs in, serves a real SDK client, and leaves nothing behind (private Secret Service)', async (t) => {
  if (!ready(t)) return;
  const tmp = tempDir(t);
  // A bus address that leads nowhere: the OS keychain fails as it does in a container or CI,
  // on every machine, and the demo must fall back to its own Secret Service.
  const run = await runDemo({ ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(tmp, 'no-bus')}`, TMPDIR: tmp });

  t.equal(run.code, 0, 'exits 0', { output: run.output });
  t.match(run.stdout, /No usable OS keychain here \(.+\): using a private Secret Service/, 'says why it runs its own keyring, in one line');
  assertShowsTheBroker(t, run);
  assertNoSecrets(t, run.output);

  const started = (what: RegExp) => run.descendants.some((p) => what.test(p.cmd));
  const seen = { seen: run.descendants.map((p) => p.cmd.slice(0, 100)) };
  t.ok(started(/^dbus-daemon /) && started(/^gnome-keyring-daemon /), 'it started a private dbus-daemon and gnome-keyring', seen);
  t.ok(started(/cognito-local/) && started(/bin\.cjs serve$/), 'and cognito-local and serve', seen);
  assertNoSurvivors(t, run);
  t.same(readdirSync(tmp), [], 'no temp file or directory left (the keyring, cognito-local\'s data, the config, state)');
});

t.test('with a working OS keychain the demo uses it and deletes its entry on exit', async (t) => {
  if (!ready(t)) return;
  const tmp = tempDir(t);
  // Stands in for the desktop's keychain: the demo sees a working Secret Service.
  const osKeychain = await startSecretService();
  t.teardown(() => osKeychain.stop());
  const run = await runDemo({ ...process.env, ...osKeychain.env, TMPDIR: tmp });

  t.equal(run.code, 0, 'exits 0', { output: run.output });
  t.match(run.stdout, /keychain\s+the OS keychain/, 'says it uses the OS keychain');
  t.notMatch(run.output, /private Secret Service/, 'and not a private one');
  t.notOk(run.descendants.some((p) => /^(dbus-daemon|gnome-keyring-daemon) /.test(p.cmd)), 'it started no keyring of its own');
  assertShowsTheBroker(t, run);
  assertNoSecrets(t, run.output);
  assertNoSurvivors(t, run);

  const keychain = await startKeychainWorker(osKeychain.env, { service: 'cognito-broker-demo' });
  t.teardown(() => keychain.stop());
  t.same(await keychain.accounts(), [], 'neither the session (profile:default) nor the probe entry is left in the keychain');
  t.same(readdirSync(tmp), [], 'no temp file or directory left');
});

/** The Secret Service tools (skip, or fail in CI) and a fresh build (fail). */
function ready(t: Test): boolean {
  if (!requireSecretService(t)) return false;
  const stale = staleBuild();
  if (stale) t.fail(stale);
  return stale === undefined;
}

function staleBuild(): string | undefined {
  const built = statSync(DEMO, { throwIfNoEntry: false });
  if (!built) return `${DEMO} is missing: run \`npm run build\` first`;
  // The demo runs the emulators of testkit/ as well as scripts/.
  for (const dir of ['scripts', 'testkit']) {
    if (newestMtime(join(REPO, dir)) > built.mtimeMs) return `dist/scripts/demo.js is older than ${dir}/: run \`npm run build\` first`;
  }
  // The demo runs the compiled CLI: an old dist/src would demonstrate old code.
  if (newestMtime(join(REPO, 'src')) > newestMtime(join(REPO, 'dist', 'src'))) return 'dist/src is older than src/: run `npm run build` first';
  return undefined;
}

function newestMtime(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newestMtime(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)),
  );
}

/** A short path: the demo's private bus socket lives below it, and socket paths are limited to 108 bytes. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-demo-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// --- running the demo -------------------------------------------------------------------

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  /** Start time in clock ticks since boot: tells a process from a later one with the same pid. */
  readonly start: string;
  readonly state: string;
  readonly cmd: string;
}

interface DemoRun {
  readonly code: number | null;
  readonly stdout: string;
  /** stdout and stderr (serve's log, errors), in arrival order. */
  readonly output: string;
  /** Every process below the demo seen while it ran. */
  readonly descendants: readonly Proc[];
}

/**
 * Runs `node dist/scripts/demo.js --once`, noting every process below it while it runs:
 * once the demo has exited, a leftover daemon would be reparented and no longer show as
 * its child, so the pids are collected while they still do.
 */
async function runDemo(env: NodeJS.ProcessEnv): Promise<DemoRun> {
  const child = spawn(process.execPath, [DEMO, '--once'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let output = '';
  child.stdout.on('data', (data: Buffer) => {
    stdout += data.toString();
    output += data.toString();
  });
  child.stderr.on('data', (data: Buffer) => {
    output += data.toString();
  });
  const seen = new Map<string, Proc>();
  const poll = setInterval(() => {
    // An empty command line is a zombie (exited, not yet reaped): keep what it ran as.
    for (const p of descendantsOf(child.pid as number)) if (p.cmd !== '') seen.set(`${p.pid}@${p.start}`, p);
  }, POLL_INTERVAL_MS);
  const timer = setTimeout(() => child.kill('SIGKILL'), DEMO_TIMEOUT_MS);
  const [code] = (await once(child, 'close')) as [number | null];
  clearInterval(poll);
  clearTimeout(timer);
  return { code, stdout, output, descendants: [...seen.values()] };
}

function descendantsOf(root: number): Proc[] {
  const all = readdirSync('/proc').flatMap((name) => (/^\d+$/.test(name) ? (readProc(Number(name)) ?? []) : []));
  const found: Proc[] = [];
  for (let parents = new Set([root]); parents.size > 0; ) {
    const children = all.filter((p) => parents.has(p.ppid));
    found.push(...children);
    parents = new Set(children.map((p) => p.pid));
  }
  return found;
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state, ppid, ... starttime is field 22 of the line. comm may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    return { pid, state: fields[0] ?? '', ppid: Number(fields[1]), start: fields[19] ?? '', cmd };
  } catch {
    return undefined; // gone meanwhile
  }
}

// --- what every run must show -----------------------------------------------------------

function assertShowsTheBroker(t: Test, run: DemoRun): void {
  t.match(
    run.stdout,
    /caller ARN\s+arn:aws:sts::\d{12}:assumed-role\/cognito-broker-local-authenticated\/\S+/,
    "the SDK's signed call reached the STS stub, which answered with the identity pool's role",
  );
  t.match(run.stdout, /AccessKeyId\s+\*{16}[A-Z0-9]{4}\n/, 'the access key id, masked');
  t.match(run.stdout, /cognito:username\s+test-user/, "the ID token's claims, from GET /token");
  t.match(run.stdout, /^\s*export AWS_CONTAINER_CREDENTIALS_FULL_URI=http:\/\/127\.0\.0\.1:\d+\/credentials$/m, 'the export lines, as serve prints them');
  // serve prints the token itself only to a terminal; the demo reads serve's piped stdout,
  // so it shows the file of the profile's scoped token, as a user's script would see it.
  t.match(run.stdout, /^\s*export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=\S+\/tokens\/default$/m, "with the profile token's file");
  t.notMatch(run.stdout, /^\s*export AWS_CONTAINER_AUTHORIZATION_TOKEN=/m, 'and not the token itself');
  t.match(run.stdout, /^\s*unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI$/m, 'and the unset line');
  t.match(run.stdout, /aws sts get-caller-identity --region us-east-1 --endpoint-url http:\/\/127\.0\.0\.1:\d+/, 'an AWS CLI line to try');
  t.match(run.stdout, /curl -H "Authorization: \$AWS_CONTAINER_AUTHORIZATION_TOKEN" http:\/\/127\.0\.0\.1:\d+\/token/, 'a curl line to try');
}

/**
 * The demo prints no secret at all. They cannot be learnt from outside, so look for their
 * shapes: an endpoint token is 64 hex digits; a JWT starts `eyJ`; the emulator's secret key
 * is 40 base64 characters and its session token 800; the local stack's password is `Pw-`
 * and 12 base64url characters.
 */
function assertNoSecrets(t: Test, output: string): void {
  // The ARN's "authenticated/CognitoIdentityCredentials" has the shape of a secret key too.
  const rest = output.replaceAll(/arn:aws:\S+/g, 'arn');
  t.notMatch(rest, /\b[0-9a-f]{64}\b/, 'no endpoint token');
  t.notMatch(rest, /eyJ/, 'no JWT');
  t.notMatch(rest, /[A-Za-z0-9+/]{40,}/, 'no secret access key or session token');
  t.notMatch(rest, /Pw-[\w-]{12}-a1A/, 'no password');
}

/** No process the demo started is alive (a zombie has exited; it only awaits its reaper). */
function assertNoSurvivors(t: Test, run: DemoRun): void {
  t.ok(run.descendants.length > 0, 'the demo\'s processes were seen');
  const alive = run.descendants.filter((p) => {
    const now = readProc(p.pid);
    return now !== undefined && now.start === p.start && now.state !== 'Z';
  });
  t.same(
    alive.map((p) => `${p.pid} ${p.cmd.slice(0, 120)}`),
    [],
    'no dbus-daemon, gnome-keyring-daemon, cognito-local or serve outlives the demo',
  );
}
