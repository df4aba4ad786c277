import { SignJWT } from 'jose';
import t from 'tap';
import { DeveloperIdentity, type IdentityCommandResult, parseIdentityCommandOutput } from '../../src/cognito/developer-identity.js';
import { IdentityCommandFailedError, IdentityCommandOutputError, LoginRequiredError } from '../../src/errors.js';

const CONFIG = { notSignedInExitCode: 77, timeoutSeconds: 60 };
const NOW = 1_800_000_000_000;
const IDENTITY = 'eu-west-1:11111111-2222-3333-4444-555555555555';

async function token(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('k'.repeat(32)));
}

const exited = (stdout: string, exitCode: number | null = 0, extra: Partial<IdentityCommandResult> = {}): IdentityCommandResult => ({ exitCode, signal: null, stdout, ...extra });

t.test('reads {"IdentityId","Token"}; the token\'s exp sets the expiry, TokenDuration caps it by our clock', async (t) => {
  const jwt = await token({ sub: IDENTITY, exp: NOW / 1000 + 900 });
  const plain = parseIdentityCommandOutput('p', exited(JSON.stringify({ IdentityId: IDENTITY, Token: jwt })), CONFIG, NOW);
  t.same(plain, { identityId: IDENTITY, token: jwt, expiresAt: NOW + 900_000, issuedAt: NOW });
  const capped = parseIdentityCommandOutput('p', exited(JSON.stringify({ IdentityId: IDENTITY, Token: jwt, TokenDuration: 300 })), CONFIG, NOW);
  t.equal(capped.expiresAt, NOW + 300_000, 'a token whose exp is skewed later is renewed by TokenDuration');
});

t.test('how the command ended decides the error: not signed in, crashed, killed, not started', async (t) => {
  t.throws(() => parseIdentityCommandOutput('p', exited('', 77), CONFIG, NOW), LoginRequiredError);
  t.throws(() => parseIdentityCommandOutput('p', exited('', 5), { ...CONFIG, notSignedInExitCode: 5 }, NOW), LoginRequiredError, 'the profile may name its own code');
  for (const [result, pattern] of [
    [exited('', 1), /exited with 1/],
    [exited('', null, { signal: 'SIGSEGV' }), /ended by SIGSEGV/],
    [exited('', null, { timedOut: true }), /did not finish within 60 s/],
    [exited('', null, { spawnError: 'ENOENT' }), /could not be started \(ENOENT\)/],
  ] as const) {
    const error = t.throws(() => parseIdentityCommandOutput('p', result, CONFIG, NOW)) as unknown;
    t.ok(error instanceof IdentityCommandFailedError && error.retryable, 'a retryable failure');
    t.match((error as Error).message, pattern);
  }
});

t.test('output that is not a token answer is refused without quoting it', async (t) => {
  const secret = await token({ sub: IDENTITY });
  const bad = [
    'not json ' + secret,
    '[1]',
    JSON.stringify({ Token: secret }),
    JSON.stringify({ IdentityId: 'nope', Token: secret }),
    JSON.stringify({ IdentityId: IDENTITY, Token: secret }),
    JSON.stringify({ IdentityId: IDENTITY, Token: 'opaque-' + secret }),
    JSON.stringify({ IdentityId: IDENTITY, Token: await token({ exp: NOW / 1000 + 60 }), TokenDuration: 90_000 }),
  ];
  for (const stdout of bad) {
    const error = t.throws(() => parseIdentityCommandOutput('p', exited(stdout), CONFIG, NOW)) as Error;
    t.ok(error instanceof IdentityCommandOutputError, stdout.slice(0, 30));
    t.notMatch(error.message, secret.slice(-20), 'the output is not quoted');
  }
  t.throws(() => parseIdentityCommandOutput('p', exited('', 0, { overflow: true }), CONFIG, NOW), IdentityCommandOutputError);
});

t.test('the IdentityId of a token: as the command printed it, else the token\'s sub', async (t) => {
  const jwt = await token({ sub: IDENTITY, exp: NOW / 1000 + 900 });
  const other = 'eu-west-1:99999999-2222-3333-4444-555555555555';
  const developer = new DeveloperIdentity('p', CONFIG, { run: async () => exited(JSON.stringify({ IdentityId: other, Token: jwt })) }, () => NOW);
  const tokens = await developer.refresh();
  t.same(tokens, { idToken: jwt, accessToken: jwt, expiresAt: NOW + 900_000, issuedAt: NOW });
  t.equal(developer.identityIdFor(jwt), other, 'what the backend said');
  t.equal(developer.identityIdFor(await token({ sub: IDENTITY })), IDENTITY, 'a token another process got: its sub');
  t.throws(() => developer.identityIdFor('opaque'), IdentityCommandOutputError);
});
