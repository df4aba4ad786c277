import t from 'tap';
import { BorrowedSessionStore, BorrowedTokens } from '../../src/broker/borrowed-sign-in.js';
import { ProfileSession } from '../../src/broker/profile-session.js';
import { SessionMirror } from '../../src/store/session-mirror.js';
import type { ProfileConfig } from '../../src/config/config.js';
import { UpstreamUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/log/create-logger.js';
import { MemoryCognito } from '../../testkit/memory-cognito.js';
import { createHarness, LogCapture, PROFILE } from '../support/session-harness.js';

const MINUTE = 60_000;
const READER: ProfileConfig = { ...PROFILE, name: 'reader', customRoleArn: 'arn:aws:iam::111122223333:role/readers', signInFrom: PROFILE };

async function setup() {
  const h = await createHarness();
  h.upstream.rotateRefreshTokens = true;
  const identity = new MemoryCognito({ clock: h.clock });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'trace', destination: logs });
  const borrower = new ProfileSession({
    profile: READER,
    mirror: new SessionMirror({ profile: READER, sessions: new BorrowedSessionStore(h.secrets, PROFILE), clock: h.clock, logger }),
    refresher: new BorrowedTokens(READER.name, h.session, h.clock),
    identityPool: identity,
    clock: h.clock,
    logger,
    random: () => 0.5,
  });
  return { h, identity, borrower, logs };
}

t.test('a borrowing profile never calls the user pool: one refresh stream, its own credentials, over a day', async (t) => {
  const { h, identity, borrower } = await setup();
  h.session.start();
  borrower.start();
  await h.clock.advance(10);
  const problems: string[] = [];
  for (let minute = 0; minute < 24 * 60; minute += 5) {
    await h.clock.advance(5 * MINUTE);
    const [own, borrowed] = await Promise.all([h.session.credentials(), borrower.credentials()]);
    if (own.accessKeyId === borrowed.accessKeyId) problems.push(`the same credentials at minute ${minute}`);
    if (borrowed.expiresAt - h.clock.now() < 15 * MINUTE) problems.push(`less than 15 min left at minute ${minute}`);
    if ((await borrower.tokens()).idToken !== (await h.session.tokens()).idToken) problems.push(`another ID token at minute ${minute}`);
  }
  t.same(problems, [], 'own credentials, always fresh, the owner\'s ID token');
  t.equal(identity.calls.refresh, 0, 'the borrower\'s Cognito clients never refreshed');
  t.ok(h.upstream.calls.refresh >= 24, `the owner refreshed (${h.upstream.calls.refresh})`);
  t.equal(new Set(h.upstream.refreshRequests.map((r) => r.refreshToken)).size, h.upstream.refreshRequests.length, 'each rotated refresh token sent once');
  t.ok(identity.calls.getCredentials >= 48, 'the borrower got credentials of its own');
  t.same(borrower.status().lastError, undefined);
  t.equal((await h.sessions.load(PROFILE))?.refreshToken, h.upstream.issuedRefreshTokens.at(-1), 'the owner kept the keychain current');
  h.session.stop();
  borrower.stop();
});

t.test('a borrowing profile of another identity pool reads a kept IdentityId of its own pool only, and never writes the owner\'s entry', async (t) => {
  const h = await createHarness();
  const otherPool: ProfileConfig = { ...READER, identityPoolId: 'eu-west-1:99999999-2222-3333-4444-555555555555' };
  const borrowerIn = (profile: ProfileConfig, logs: LogCapture) => {
    const logger = createLogger({ level: 'trace', destination: logs });
    return new ProfileSession({
      profile,
      mirror: new SessionMirror({ profile, sessions: new BorrowedSessionStore(h.secrets, PROFILE), clock: h.clock, logger }),
      refresher: new BorrowedTokens(profile.name, h.session, h.clock),
      identityPool: new MemoryCognito({ clock: h.clock }),
      clock: h.clock,
      logger,
      random: () => 0.5,
    });
  };
  h.session.start();
  const own = await h.session.credentials();
  const logs = new LogCapture();
  const inOtherPool = borrowerIn(otherPool, logs);
  const inSamePool = borrowerIn(READER, logs);
  await Promise.all([inOtherPool.credentials(), inSamePool.credentials()]);
  t.equal(inOtherPool.status().upstreamCalls.getId, 1, 'another pool: GetId');
  t.equal(inSamePool.status().upstreamCalls.getId, 0, 'the owner\'s pool: the IdentityId the owner kept');
  t.same((await h.sessions.load(PROFILE))?.identity, { identityPoolId: PROFILE.identityPoolId, identityId: own.identityId }, 'the owner\'s entry holds the owner\'s IdentityId');
  t.notOk(logs.raw.some((l) => /could not be written|must not write/.test(l)), 'no write was tried');
  for (const s of [h.session, inOtherPool, inSamePool]) s.stop();
});

t.test('when the owner\'s refresh token is refused, the borrower waits for a new login too', async (t) => {
  const { h, identity, borrower } = await setup();
  h.session.start();
  borrower.start();
  await h.clock.advance(10);
  const { LoginRequiredError } = await import('../../src/errors.js');
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'refused (test)') };
  await h.clock.advance(50 * MINUTE);
  t.equal(h.session.phase, 'login-required');
  t.equal(borrower.phase, 'login-required');
  t.match(borrower.status().lastError, { code: 'BRK_ERR_LOGIN_REQUIRED', message: /Profile "default" must sign in again.*Run: cognito-broker login$/ });
  const calls = identity.calls.getCredentials;
  await h.clock.advance(30 * MINUTE);
  t.equal(identity.calls.getCredentials, calls, 'no calls while waiting');
  h.upstream.refreshBehaviour = { kind: 'ok' };
  await h.sessions.save(PROFILE, { ...(await h.sessions.load(PROFILE))!, refreshToken: 'new-login' });
  await h.clock.advance(12_000);
  t.equal(h.session.phase, 'ready');
  t.equal(borrower.phase, 'ready', 'a new login: both serve again');
  h.session.stop();
  borrower.stop();
});

t.test('while the owner cannot renew, the borrower backs off instead of looping, and recovers with it', async (t) => {
  const { h, identity, borrower } = await setup();
  h.session.start();
  borrower.start();
  await h.clock.advance(10);
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new UpstreamUnavailableError('user pool down (test)') };
  await h.clock.advance(50 * MINUTE);
  t.equal(borrower.phase, 'degraded');
  t.match(borrower.status().lastError, { code: 'BRK_ERR_UPSTREAM_UNAVAILABLE', message: /uses the sign-in of profile "default", which could not renew its ID token: user pool down/ });
  t.ok(identity.calls.getCredentials < 5, `no loop (${identity.calls.getCredentials} GetCredentialsForIdentity)`);
  t.ok((await borrower.credentials()).expiresAt > h.clock.now(), 'still-valid credentials still served');
  h.upstream.refreshBehaviour = { kind: 'ok' };
  await h.clock.advance(3 * MINUTE);
  t.equal(borrower.phase, 'ready');
  t.equal(identity.calls.refresh, 0);
  h.session.stop();
  borrower.stop();
});

t.test('a borrower follows the owner\'s keychain entry: signed out with it, never writing it', async (t) => {
  const { h, borrower } = await setup();
  h.session.start();
  borrower.start();
  await h.clock.advance(10);
  t.equal(borrower.phase, 'ready');
  await h.sessions.delete(PROFILE);
  await h.clock.advance(6_000);
  t.equal(borrower.phase, 'signed-out');
  t.equal(h.session.phase, 'signed-out');
  t.same([await borrower.credentials().catch((e: Error) => e.name)], ['NotSignedInError'], 'nothing served from the deleted session');
  await t.rejects(new BorrowedSessionStore(h.secrets, PROFILE).save(READER), /must not write it/);
  h.session.stop();
  borrower.stop();
});
