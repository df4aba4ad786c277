import t from 'tap';
import { INITIAL_STATE, nextSessionState } from '../../src/broker/session-state.js';
import { LoginRequiredError, NotSignedInError, UpstreamUnavailableError } from '../../src/errors.js';

const tokens = { idToken: 'i', accessToken: 'a', issuedAt: 0, expiresAt: 3_600_000 };
const credentials = { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T', issuedAt: 0, expiresAt: 3_600_000, identityId: 'r:1' };
const session = { v: 1 as const, refreshToken: 'r', username: 'u', userPoolId: 'p', clientId: 'c', signedInAt: 0 };

t.test('the phases move as the diagram in session-state.ts says', async (t) => {
  let s = INITIAL_STATE;
  t.equal(s.phase, 'starting');
  s = nextSessionState(s, { type: 'session-loaded', session });
  s = nextSessionState(s, { type: 'refresh-started' });
  t.equal(s.phase, 'refreshing', 'no credentials yet');
  s = nextSessionState(s, { type: 'refresh-succeeded', at: 1, tokens, credentials, identityId: 'r:1' });
  t.equal(s.phase, 'ready');
  s = nextSessionState(s, { type: 'refresh-started' });
  t.equal(s.phase, 'refreshing-ahead', 'credentials in hand');
  s = nextSessionState(s, { type: 'refresh-failed', error: new UpstreamUnavailableError('x'), retryAt: 5 });
  t.match(s, { phase: 'degraded', failures: 1, retryAt: 5, credentials });
  s = nextSessionState(s, { type: 'refresh-failed', error: new UpstreamUnavailableError('x'), retryAt: 9 });
  t.equal(s.failures, 2, 'failures count up for the backoff');
  s = nextSessionState(s, { type: 'refresh-succeeded', at: 2, tokens, credentials, identityId: 'r:1' });
  t.match(s, { phase: 'ready', failures: 0, lastError: undefined, retryAt: undefined });
});

t.test('login required forgets the refresh token but keeps what was issued', async (t) => {
  let s = nextSessionState(INITIAL_STATE, { type: 'session-loaded', session });
  s = nextSessionState(s, { type: 'refresh-succeeded', at: 1, tokens, credentials, identityId: 'r:1' });
  s = nextSessionState(s, { type: 'login-required', error: new LoginRequiredError('default', 'x'), rejectedFingerprint: 'f' });
  t.match(s, { phase: 'login-required', session: undefined, credentials, rejectedFingerprint: 'f' });
});

t.test('after login required, a session of the same user keeps what was issued; of another user, drops it', async (t) => {
  let s = nextSessionState(INITIAL_STATE, { type: 'session-loaded', session });
  s = nextSessionState(s, { type: 'refresh-succeeded', at: 1, tokens, credentials, identityId: 'r:1' });
  s = nextSessionState(s, { type: 'login-required', error: new LoginRequiredError('default', 'x'), rejectedFingerprint: 'f' });
  const same = nextSessionState(s, { type: 'session-loaded', session: { ...session, refreshToken: 'r2' } });
  t.match(same, { tokens, credentials, identityId: 'r:1', user: 'u' }, 'the same user signed in again');
  const other = nextSessionState(s, { type: 'session-loaded', session: { ...session, refreshToken: 'r3', username: 'someone-else' } });
  t.match(other, { tokens: undefined, credentials: undefined, identityId: undefined, user: 'someone-else' }, 'another user');
  const byPoolName = nextSessionState(s, { type: 'session-loaded', session: { ...session, refreshToken: 'r4', username: 'alias@example.com', cognitoUsername: 'u' } });
  t.match(byPoolName, { credentials, user: 'u' }, 'the same user by the pool\'s own name, signed in with an alias');
});

t.test('signed out drops everything from the session', async (t) => {
  let s = nextSessionState(INITIAL_STATE, { type: 'refresh-succeeded', at: 1, tokens, credentials, identityId: 'r:1' });
  s = nextSessionState(s, { type: 'signed-out', error: new NotSignedInError('default') });
  t.match(s, { phase: 'signed-out', credentials: undefined, tokens: undefined, identityId: undefined });
});

t.test('a failed cycle keeps the ID token it did get', async (t) => {
  const s = nextSessionState(INITIAL_STATE, { type: 'refresh-failed', error: new UpstreamUnavailableError('x'), retryAt: 1, tokens, identityId: 'r:1' });
  t.match(s, { tokens, identityId: 'r:1', credentials: undefined });
});

t.test('a sign-in that ends soon stays so until a new sign-in (another signedInAt), not through a rotation', async (t) => {
  let s = nextSessionState(INITIAL_STATE, { type: 'sign-in-ending' });
  t.notOk(s.endsSoon, 'nothing held, nothing ends');
  s = nextSessionState(s, { type: 'session-loaded', session });
  s = nextSessionState(s, { type: 'sign-in-ending' });
  t.equal(s.endsSoon, true);
  s = nextSessionState(s, { type: 'session-loaded', session: { ...session, refreshToken: 'rotated' } });
  t.equal(s.endsSoon, true, 'a rotated refresh token is the same sign-in');
  s = nextSessionState(s, { type: 'session-replaced', session: { ...session, refreshToken: 'other' }, sameUser: true });
  t.equal(s.endsSoon, true, 'another process rotated it: the same sign-in');
  s = nextSessionState(s, { type: 'session-replaced', session: { ...session, signedInAt: 99 }, sameUser: true });
  t.equal(s.endsSoon, false, 'a new login starts afresh');
  s = nextSessionState(s, { type: 'sign-in-ending' });
  s = nextSessionState(s, { type: 'login-required', error: new LoginRequiredError('default', 'x') });
  t.equal(s.endsSoon, false, 'login required says more than ending soon');
});
