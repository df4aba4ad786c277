import { ChallengeUnsupportedError, SignInFailedError } from '../errors.js';
import type { AuthChallenge, UserPoolClient } from './user-pool-client.js';
import type { SignInTokens } from './types.js';

/** What sign-in needs to ask the person at the keyboard. */
export type SignInQuestion =
  | { readonly kind: 'new-password' }
  | { readonly kind: 'mfa-code'; readonly method: 'SMS' | 'TOTP'; readonly destination?: string | undefined };

export type AskUser = (question: SignInQuestion) => Promise<string>;

// Cognito ends a challenge session after a few wrong answers anyway; this only stops a
// misbehaving pool from keeping us in a loop.
const MAX_CHALLENGE_ROUNDS = 8;

/**
 * USER_PASSWORD_AUTH, then answers each challenge the pool asks by asking the user.
 * Challenge answers follow the InitiateAuth / RespondToAuthChallenge documentation.
 */
export async function signIn(client: Pick<UserPoolClient, 'initiatePasswordAuth' | 'respondToChallenge'>, username: string, password: string, ask: AskUser): Promise<SignInTokens> {
  let step = await client.initiatePasswordAuth(username, password);
  for (let round = 0; round < MAX_CHALLENGE_ROUNDS; round += 1) {
    if (step.kind === 'signed-in') return step.tokens;
    step = await client.respondToChallenge(step.challenge, await answer(step.challenge, ask));
  }
  throw new SignInFailedError(`The user pool kept asking challenges after ${MAX_CHALLENGE_ROUNDS} answers; giving up.`);
}

async function answer(challenge: AuthChallenge, ask: AskUser): Promise<Record<string, string>> {
  const destination = challenge.parameters.CODE_DELIVERY_DESTINATION;
  switch (challenge.name) {
    case 'NEW_PASSWORD_REQUIRED':
      return { NEW_PASSWORD: await ask({ kind: 'new-password' }) };
    case 'SMS_MFA':
      return { SMS_MFA_CODE: await ask({ kind: 'mfa-code', method: 'SMS', destination }) };
    case 'SOFTWARE_TOKEN_MFA':
      return { SOFTWARE_TOKEN_MFA_CODE: await ask({ kind: 'mfa-code', method: 'TOTP' }) };
    default:
      throw new ChallengeUnsupportedError(challenge.name);
  }
}
