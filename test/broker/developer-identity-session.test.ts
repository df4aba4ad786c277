import t from 'tap';
import { ProfileSession } from '../../src/broker/profile-session.js';
import { DeveloperIdentity, DeveloperIdentityPool, type IdentityCommandResult } from '../../src/cognito/developer-identity.js';
import type { AwsCredentials, CredentialExchanger } from '../../src/cognito/types.js';
import { DEVELOPER_PROVIDER, type ProfileConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log/create-logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SessionMirror } from '../../src/store/session-mirror.js';
import { SessionStore } from '../../src/store/session-store.js';
import { FakeClock, settle } from '../../testkit/fake-clock.js';
import { fakeJwt } from '../support/scripted-oauth-server.js';
import { LogCapture } from '../support/session-harness.js';

const POOL = 'eu-west-1:11111111-2222-3333-4444-555555555555';
const IDENTITY = 'eu-west-1:aaaaaaaa-2222-3333-4444-555555555555';
const TOKEN_SECONDS = 900;
const PROFILE: ProfileConfig = {
  name: 'dev',
  region: 'eu-west-1',
  identityPoolId: POOL,
  userPoolId: DEVELOPER_PROVIDER,
  clientId: POOL,
  developerIdentity: { command: ['backend'], notSignedInExitCode: 77, timeoutSeconds: 60 },
};

/** The organisation's command on fake time: each run a new 15-minute token, or the outcome the test sets. */
class FakeCommand {
  runs: number[] = [];
  outcome: 'ok' | 'not-signed-in' | 'crash' = 'ok';
  tokens: string[] = [];
  constructor(private readonly clock: FakeClock) {}
  async run(): Promise<IdentityCommandResult> {
    this.runs.push(this.clock.now());
    if (this.outcome === 'not-signed-in') return { exitCode: 77, signal: null, stdout: '' };
    if (this.outcome === 'crash') return { exitCode: 1, signal: null, stdout: '' };
    const now = Math.floor(this.clock.now() / 1000);
    // Built synchronously: signing on the thread pool could outlast settle() on a loaded machine.
    const token = fakeJwt({ n: this.runs.length, sub: IDENTITY, iat: now, exp: now + TOKEN_SECONDS });
    this.tokens.push(token);
    return { exitCode: 0, signal: null, stdout: JSON.stringify({ IdentityId: IDENTITY, Token: token }) };
  }
}

/** The identity pool: one-hour credentials for the latest token only. */
class FakePool implements CredentialExchanger {
  calls: { identityId: string; token: string }[] = [];
  constructor(private readonly clock: FakeClock, private readonly command: FakeCommand) {}
  async getId(): Promise<string> {
    throw new Error('a developer identity never calls GetId');
  }
  async getCredentials(identityId: string, token: string): Promise<AwsCredentials> {
    this.calls.push({ identityId, token });
    if (token !== this.command.tokens.at(-1)) throw new Error('not the latest token');
    const now = this.clock.now();
    return { accessKeyId: `AKIA${this.calls.length}`, secretAccessKey: 's', sessionToken: 't', expiresAt: now + 3_600_000, issuedAt: now, identityId };
  }
}

async function setUp() {
  const clock = new FakeClock();
  const command = new FakeCommand(clock);
  const pool = new FakePool(clock, command);
  const developer = new DeveloperIdentity(PROFILE.name, PROFILE.developerIdentity as NonNullable<ProfileConfig['developerIdentity']>, command, () => clock.now());
  const sessions = new SessionStore(new MemoryStore());
  await sessions.save(PROFILE, { v: 1, method: 'developer', refreshToken: 'developer-login:one', username: IDENTITY, userPoolId: DEVELOPER_PROVIDER, clientId: POOL, signedInAt: 0 });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'trace', destination: logs });
  const session = new ProfileSession({ profile: PROFILE, mirror: new SessionMirror({ profile: PROFILE, sessions, clock, logger }), refresher: developer, identityPool: new DeveloperIdentityPool(developer, pool), clock, logger, random: () => 0.5 });
  return { clock, command, pool, sessions, session, logs };
}

t.test('the command runs again before each OpenID token expires, for hours, and the IdentityId is the one it printed', async (t) => {
  const { clock, command, pool, session } = await setUp();
  session.start();
  await settle();
  t.equal(session.phase, 'ready');
  t.equal(pool.calls[0]?.identityId, IDENTITY);
  for (let minute = 0; minute < 180; minute += 1) {
    await clock.advance(60_000);
    const tokens = session.freshTokens() ?? (await session.tokens());
    t.ok(tokens.expiresAt > clock.now(), 'never holds an expired token', { diagnostic: false });
  }
  // A 15-minute token is renewed from half its life on: about every 7.5 minutes.
  t.ok(command.runs.length >= 20 && command.runs.length <= 26, `${command.runs.length} runs in 3 hours`);
  for (const [i, at] of command.runs.entries()) {
    if (i > 0) t.ok(at - (command.runs[i - 1] as number) < TOKEN_SECONDS * 1000, 'each run before the previous token ended', { diagnostic: false });
  }
  await session.stop();
});

t.test('exit 77 makes the profile login-required until a new login; a crash is retried with backoff', async (t) => {
  const { clock, command, session, sessions } = await setUp();
  session.start();
  await settle();
  command.outcome = 'crash';
  await clock.advance(8 * 60_000);
  t.equal(session.phase, 'degraded');
  t.equal(session.status().lastError?.code, 'BRK_ERR_IDENTITY_COMMAND_FAILED');
  const crashes = command.runs.length;
  await clock.advance(60_000);
  t.ok(command.runs.length - crashes <= 3, 'backoff, not a loop');
  t.ok(session.freshCredentials(), 'the credentials still valid are served meanwhile');

  command.outcome = 'not-signed-in';
  await clock.advance(10 * 60_000);
  t.equal(session.phase, 'login-required');
  const refused = command.runs.length;
  await clock.advance(30 * 60_000);
  t.equal(command.runs.length, refused, 'not run again without a new login');

  command.outcome = 'ok';
  await sessions.save(PROFILE, { v: 1, method: 'developer', refreshToken: 'developer-login:two', username: IDENTITY, userPoolId: DEVELOPER_PROVIDER, clientId: POOL, signedInAt: 1 });
  await clock.advance(6_000);
  t.equal(session.phase, 'ready', 'a new login is taken up');
  await session.stop();
});
