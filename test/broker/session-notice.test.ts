/**
 * The notices a session raises (src/broker/session-notice.ts, driven by ProfileSession):
 * once per refused refresh token, once per sign-in that ends soon, on fake time.
 */
import t from 'tap';
import type { ProfileStatus, SessionWatcher } from '../../src/broker/profile-session.js';
import { STORE_POLL_MS } from '../../src/broker/profile-session.js';
import { ENDS_SOON_MS, endsSoonWindowMs, type SessionNotice } from '../../src/broker/session-notice.js';
import { KeychainUnavailableError, LoginRequiredError } from '../../src/errors.js';
import { createHarness, PROFILE, storedSession } from '../support/session-harness.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

class RecordingWatcher implements SessionWatcher {
  readonly statuses: ProfileStatus[] = [];
  readonly notices: SessionNotice[] = [];
  changed(status: ProfileStatus, raised: SessionNotice | undefined): void {
    this.statuses.push(status);
    if (raised) this.notices.push(raised);
  }
}

t.test('"ends soon": 24 hours before the end, or the last quarter of a lifetime under four days', async (t) => {
  t.equal(endsSoonWindowMs(30 * 24 * HOUR), ENDS_SOON_MS);
  t.equal(ENDS_SOON_MS, 24 * HOUR);
  t.equal(endsSoonWindowMs(4 * 24 * HOUR), 24 * HOUR);
  t.equal(endsSoonWindowMs(60 * MINUTE), 15 * MINUTE, "Cognito's shortest refresh token: 15 minutes before");
});

t.test('a refused refresh token raises one login-required notice, however long it waits and whatever happens meanwhile', async (t) => {
  const watcher = new RecordingWatcher();
  const h = await createHarness({ idTokenLifetimeMs: 5 * MINUTE, watcher });
  h.session.start();
  await h.clock.advance(1000);
  t.same(watcher.statuses.map((s) => s.phase), ['starting', 'refreshing', 'ready'], 'the watcher hears the sign-in read from the keychain, then each phase');
  t.same(watcher.notices, [], 'nothing to tell while all is well');

  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'refresh token revoked (test)') };
  await h.clock.advance(10 * MINUTE);
  t.equal(h.session.phase, 'login-required');
  t.equal(watcher.notices.length, 1, 'one notice');
  t.match(watcher.notices[0], { profile: 'default', state: 'login-required', message: /must sign in again \(refresh token revoked \(test\)\)\. Run: cognito-broker login$/ });

  await h.clock.advance(HOUR);
  // A locked keychain in between: the phase leaves login-required and comes back to it.
  h.secrets.available = false;
  await h.clock.advance(STORE_POLL_MS * 3);
  t.equal(h.session.status().lastError?.code, new KeychainUnavailableError('x').code);
  h.secrets.available = true;
  await h.clock.advance(STORE_POLL_MS * 2);
  t.equal(h.session.phase, 'login-required');
  t.equal(watcher.notices.length, 1, 'still one notice: the same refused token');

  h.upstream.refreshBehaviour = { kind: 'ok' };
  await h.sessions.save(PROFILE, { ...storedSession('refresh-token-two'), signedInAt: h.clock.now() });
  await h.clock.advance(STORE_POLL_MS + 100);
  t.equal(h.session.phase, 'ready', 'a new login recovers');
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('default', 'revoked again (test)') };
  await h.clock.advance(10 * MINUTE);
  t.equal(watcher.notices.length, 2, 'the new sign-in refused in its turn: a second notice');
  t.match(watcher.notices[1], { state: 'login-required', message: /revoked again/ });
  h.session.stop();
});

t.test('a sign-in with a known lifetime raises one ends-soon notice when its last quarter begins; a new login starts the count again', async (t) => {
  const watcher = new RecordingWatcher();
  const profile = { ...PROFILE, refreshTokenLifetimeMs: 2 * HOUR };
  const h = await createHarness({ signedIn: false, profile, idTokenLifetimeMs: 20 * MINUTE, credentialsLifetimeMs: 20 * MINUTE, watcher });
  const signedInAt = h.clock.now();
  await h.sessions.save(profile, { ...storedSession(), signedInAt });
  h.session.start();
  await h.clock.advance(1000);
  t.equal(h.session.status().signInEndsAt, new Date(signedInAt + 2 * HOUR).toISOString(), 'status tells when the sign-in ends');
  t.notOk(h.session.status().endsSoon);

  await h.clock.advance(90 * MINUTE - 2000);
  t.same(watcher.notices, [], 'not before the last 30 minutes');
  await h.clock.advance(2000);
  t.equal(watcher.notices.length, 1, 'at the start of the last 30 minutes');
  t.match(watcher.notices[0], { profile: 'default', state: 'ends-soon', message: /^The sign-in of profile "default" ends in 30m \(at .*Z\): refreshTokenLifetime counted from the login at .*Z\. Run: cognito-broker login$/ });
  t.equal(h.session.status().endsSoon, true);
  t.equal(watcher.statuses.at(-1)?.endsSoon, true, 'the watcher hears it with the status');

  await h.clock.advance(25 * MINUTE);
  t.equal(h.session.phase, 'ready', 'refreshing goes on: the lifetime only says when to warn');
  t.equal(watcher.notices.length, 1, 'told once');

  await h.sessions.save(profile, { ...storedSession('refresh-token-two'), signedInAt: h.clock.now() });
  await h.clock.advance(STORE_POLL_MS + 100);
  t.notOk(h.session.status().endsSoon, 'a new login: no longer ending');
  t.equal(h.session.status().signInEndsAt, new Date(h.clock.now() - STORE_POLL_MS - 100 + 2 * HOUR).toISOString());
  await h.clock.advance(90 * MINUTE);
  t.equal(watcher.notices.length, 2, 'the new sign-in ends soon in its turn');
  h.session.stop();
});

t.test('without refreshTokenLifetime nothing is said about the sign-in ending', async (t) => {
  const watcher = new RecordingWatcher();
  const h = await createHarness({ idTokenLifetimeMs: 30 * MINUTE, watcher });
  h.session.start();
  await h.clock.advance(3 * HOUR);
  t.equal(h.session.status().signInEndsAt, undefined);
  t.same(watcher.notices, []);
  t.ok(watcher.statuses.length > 2, 'the watcher still hears each refresh (new credentials)');
  h.session.stop();
});

t.test('a watcher that throws does not stop the session', async (t) => {
  const h = await createHarness({ watcher: { changed: () => { throw new Error('watcher broke (test)'); } } });
  h.session.start();
  await h.clock.advance(1000);
  t.equal(h.session.phase, 'ready');
  t.ok(h.logs.lines.some((l) => l.msg === 'the session watcher failed'));
  h.session.stop();
});

t.test('a profile that borrows a sign-in raises no notice of its own: its owner\'s session tells', async (t) => {
  const watcher = new RecordingWatcher();
  const h = await createHarness({ idTokenLifetimeMs: 5 * MINUTE, profile: { ...PROFILE, name: 'admin', signInFrom: PROFILE, refreshTokenLifetimeMs: HOUR }, watcher });
  h.session.start();
  await h.clock.advance(1000);
  h.upstream.refreshBehaviour = { kind: 'fail', error: () => new LoginRequiredError('admin', 'the owner was refused (test)') };
  await h.clock.advance(10 * MINUTE);
  t.equal(h.session.phase, 'login-required');
  t.ok(watcher.statuses.some((s) => s.phase === 'login-required'), 'the watcher still hears the phase (the prompt shows it)');
  t.same(watcher.notices, []);
  h.session.stop();
});
