import t from 'tap';
import { signIn, type SignInQuestion } from '../../src/cognito/sign-in.js';
import type { AuthChallenge, SignInStep } from '../../src/cognito/user-pool-client.js';

const done: SignInStep = { kind: 'signed-in', tokens: { idToken: 'i', accessToken: 'a', refreshToken: 'r', issuedAt: 0, expiresAt: 1 } };
const challenge = (name: string, parameters: Record<string, string> = {}): SignInStep => ({
  kind: 'challenge',
  challenge: { name, session: `session-${name}`, username: 'internal-id', parameters },
});

/**
 * A user pool that asks a scripted series of challenges: cognito-local cannot ask for
 * MFA codes, so the answers' shapes are checked here against the documented names.
 */
function scriptedPool(steps: SignInStep[]) {
  const answers: { challenge: AuthChallenge; answers: Record<string, string> }[] = [];
  let next = 0;
  return {
    answers,
    async initiatePasswordAuth() {
      return steps[next++] as SignInStep;
    },
    async respondToChallenge(c: AuthChallenge, a: Record<string, string>) {
      answers.push({ challenge: c, answers: a });
      return steps[next++] as SignInStep;
    },
  };
}

t.test('answers NEW_PASSWORD_REQUIRED, SMS_MFA and SOFTWARE_TOKEN_MFA with the documented parameters', async (t) => {
  const pool = scriptedPool([
    challenge('NEW_PASSWORD_REQUIRED'),
    challenge('SMS_MFA', { CODE_DELIVERY_DESTINATION: '+*******1234' }),
    challenge('SOFTWARE_TOKEN_MFA'),
    done,
  ]);
  const asked: SignInQuestion[] = [];
  const tokens = await signIn(pool, 'alice', 'pw', async (q) => {
    asked.push(q);
    return q.kind === 'new-password' ? 'new-pw' : '123456';
  });
  t.equal(tokens.refreshToken, 'r');
  t.same(pool.answers.map((a) => a.answers), [{ NEW_PASSWORD: 'new-pw' }, { SMS_MFA_CODE: '123456' }, { SOFTWARE_TOKEN_MFA_CODE: '123456' }]);
  t.same(asked, [{ kind: 'new-password' }, { kind: 'mfa-code', method: 'SMS', destination: '+*******1234' }, { kind: 'mfa-code', method: 'TOTP' }]);
  t.ok(pool.answers.every((a) => a.challenge.session === `session-${a.challenge.name}`), 'each answer carries its session unchanged');
});

t.test('an unsupported challenge is a clear error', async (t) => {
  const pool = scriptedPool([challenge('CUSTOM_CHALLENGE')]);
  await t.rejects(signIn(pool, 'alice', 'pw', async () => 'x'), { code: 'BRK_ERR_CHALLENGE_UNSUPPORTED', message: /CUSTOM_CHALLENGE/ });
});

t.test('a pool that never stops asking is given up on', async (t) => {
  const pool = scriptedPool(Array.from({ length: 20 }, () => challenge('SMS_MFA')));
  await t.rejects(signIn(pool, 'alice', 'pw', async () => '123456'), { code: 'BRK_ERR_SIGN_IN_FAILED' });
});
