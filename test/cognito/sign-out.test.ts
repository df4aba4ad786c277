import t from 'tap';
import { revokeSession, type SignOutClients } from '../../src/cognito/sign-out.js';
import { LoginRequiredError, UpstreamRejectedError, UpstreamUnavailableError } from '../../src/errors.js';

type Step = 'ok' | Error | boolean;

/** Records what was called; each call does what its script says (ok, throw, or revoke's boolean). */
function clients(script: { revokeToken?: Step; globalSignOut?: Step; refresh?: Step; oauthRevoke?: Step; noOauth?: boolean; rotateTo?: string } = {}) {
  const calls: string[] = [];
  const run = <T>(name: string, step: Step | undefined, value: T): Promise<T> => {
    calls.push(name);
    if (step instanceof Error) return Promise.reject(step);
    return Promise.resolve(typeof step === 'boolean' ? (step as unknown as T) : value);
  };
  const c: SignOutClients = {
    userPool: {
      revokeToken: (token, secret) => run(`revokeToken ${token}${secret ? ` ${secret}` : ''}`, script.revokeToken, undefined),
      globalSignOut: (access) => run(`globalSignOut ${access}`, script.globalSignOut, undefined),
    },
    oauth: script.noOauth ? undefined : { revoke: (token, secret) => run(`oauth.revoke ${token}${secret ? ` ${secret}` : ''}`, script.oauthRevoke, true) },
    refresher: {
      refresh: (request) => run(`refresh ${request.method ?? 'password'}`, script.refresh, { idToken: 'id', accessToken: 'fresh-access', expiresAt: 2, issuedAt: 1, ...(script.rotateTo ? { refreshToken: script.rotateTo } : {}) }),
    },
  };
  return { c, calls };
}

const offline = () => new UpstreamUnavailableError('The Cognito user pool did not answer (ECONNREFUSED); retrying with backoff.');

t.test('a password session is revoked with RevokeToken (with its client secret); a browser or OIDC one at the provider', async (t) => {
  const password = clients();
  t.same(await revokeSession({ refreshToken: 'r', clientSecret: 's' }, password.c), { done: true, what: 'the refresh token was revoked (RevokeToken)' });
  t.same(password.calls, ['revokeToken r s']);
  const browser = clients();
  t.match(await revokeSession({ method: 'browser', refreshToken: 'r' }, browser.c), { done: true, what: /revocation endpoint/ });
  t.same(browser.calls, ['oauth.revoke r']);
  const oidc = clients();
  await revokeSession({ method: 'oidc', refreshToken: 'r', clientSecret: 'g' }, oidc.c);
  t.same(oidc.calls, ['oauth.revoke r g']);
});

t.test('a token the server already refuses counts as signed out', async (t) => {
  const { c } = clients({ revokeToken: new LoginRequiredError('p', 'NotAuthorizedException') });
  t.same(await revokeSession({ refreshToken: 'r' }, c), { done: true, what: 'the refresh token was already invalid (revoked or expired)' });
});

t.test('offline, refused, or no way to revoke: not done, and why', async (t) => {
  const down = await revokeSession({ refreshToken: 'r' }, clients({ revokeToken: offline() }).c);
  t.match(down, { done: false, what: /NOT revoked: The Cognito user pool did not answer \(ECONNREFUSED\).*\[BRK_ERR_UPSTREAM_UNAVAILABLE\]/ });
  t.type(down.done ? undefined : down.cause, UpstreamUnavailableError);
  t.match(await revokeSession({ method: 'browser', refreshToken: 'r' }, clients({ oauthRevoke: new UpstreamRejectedError('unauthorized_client') }).c), { done: false, what: /unauthorized_client/ });
  t.match(await revokeSession({ method: 'oidc', refreshToken: 'r' }, clients({ oauthRevoke: false }).c), { done: false, what: /offers no revocation endpoint/ });
  const lost = clients({ noOauth: true });
  t.match(await revokeSession({ method: 'browser', refreshToken: 'r' }, lost.c), { done: false, what: /no longer has the "hostedUi" or "oidc" section/ });
  t.same(lost.calls, [], 'nothing is called');
});

t.test('--global: GlobalSignOut with a fresh access token', async (t) => {
  const { c, calls } = clients();
  t.same(await revokeSession({ refreshToken: 'r' }, c, { global: true }), { done: true, what: 'every session of the user was signed out (GlobalSignOut)' });
  t.same(calls, ['refresh password', 'globalSignOut fresh-access']);
});

t.test('--global that fails still revokes this session, and says the global part did not happen', async (t) => {
  const unsupported = clients({ globalSignOut: new UpstreamRejectedError('The Cognito user pool refused the request (UnsupportedOperation).') });
  const outcome = await revokeSession({ refreshToken: 'r' }, unsupported.c, { global: true });
  t.match(outcome, { done: false, what: /^the global sign-out did not happen \(.*UnsupportedOperation.*\); only this session ended: the refresh token was revoked \(RevokeToken\)$/ });
  t.same(unsupported.calls, ['refresh password', 'globalSignOut fresh-access', 'revokeToken r']);

  const scope = await revokeSession({ method: 'browser', refreshToken: 'r' }, clients({ globalSignOut: new LoginRequiredError('p', 'NotAuthorizedException') }).c, { global: true });
  t.match(scope, { done: false, what: /refused the access token.*aws\.cognito\.signin\.user\.admin.*only this session ended/ });

  const offlineAll = clients({ refresh: offline(), revokeToken: offline() });
  t.match(await revokeSession({ refreshToken: 'r' }, offlineAll.c, { global: true }), { done: false, what: /global sign-out did not happen \(.*ECONNREFUSED.*\); and the refresh token was NOT revoked/ });
  t.same(offlineAll.calls, ['refresh password', 'revokeToken r'], 'no GlobalSignOut without an access token');

  const dead = clients({ refresh: new LoginRequiredError('p', 'NotAuthorizedException') });
  t.match(await revokeSession({ refreshToken: 'r' }, dead.c, { global: true }), { done: false, what: /already refused, so there is no access token/ });
  t.same(dead.calls, ['refresh password']);
});

t.test('--global on a client that rotates refresh tokens: when GlobalSignOut fails, the rotated token is the one revoked', async (t) => {
  const rotating = clients({ rotateTo: 'rotated-r2', globalSignOut: new UpstreamRejectedError('The Cognito user pool refused the request (UnsupportedOperation).') });
  const outcome = await revokeSession({ refreshToken: 'r1', clientSecret: 's' }, rotating.c, { global: true });
  t.same(rotating.calls, ['refresh password', 'globalSignOut fresh-access', 'revokeToken rotated-r2 s'], 'the token that stays valid is revoked, with the client secret');
  t.match(outcome, { done: false, what: /only this session ended: the refresh token was revoked \(RevokeToken\)$/ });
  t.notOk(JSON.stringify(outcome).includes('rotated-r2'), 'the rotated token is not in what logout prints');

  const offlineAfter = clients({ rotateTo: 'rotated-r2', globalSignOut: offline(), revokeToken: offline() });
  t.match(await revokeSession({ refreshToken: 'r1' }, offlineAfter.c, { global: true }), { done: false, what: /NOT revoked/ });
  t.same(offlineAfter.calls, ['refresh password', 'globalSignOut fresh-access', 'revokeToken rotated-r2']);

  const browser = clients({ rotateTo: 'rotated-b2', globalSignOut: new LoginRequiredError('p', 'NotAuthorizedException') });
  await revokeSession({ method: 'browser', refreshToken: 'b1' }, browser.c, { global: true });
  t.same(browser.calls, ['refresh browser', 'globalSignOut fresh-access', 'oauth.revoke rotated-b2'], 'at the provider too');

  const same = clients({ rotateTo: 'r1', globalSignOut: offline() });
  await revokeSession({ refreshToken: 'r1' }, same.c, { global: true });
  t.same(same.calls, ['refresh password', 'globalSignOut fresh-access', 'revokeToken r1'], 'no rotation: the token held is revoked');
});
