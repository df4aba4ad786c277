/**
 * TOTP enrolment (AssociateSoftwareToken, then VerifySoftwareToken): in the MFA_SETUP
 * challenge of a sign-in, with its Session, or for a signed-in user, with an access token.
 */
import { optionalString, requireString, UserPoolFault, type Input } from './api-protocol.js';
import type { ClientState, UserDirectory, UserState } from './directory.js';
import type { AuthSession, AuthSessions } from './sessions.js';
import type { TokenService } from './token-service.js';
import { generateTotpSecret, verifyTotp } from './totp.js';

export class TotpEnrolment {
  constructor(
    private readonly directory: UserDirectory,
    private readonly sessions: AuthSessions,
    private readonly tokens: TokenService,
    private readonly now: () => number,
  ) {}

  async associateSoftwareToken(input: Input): Promise<{ SecretCode: string; Session?: string }> {
    const secret = generateTotpSecret();
    const sessionId = optionalString(input, 'Session');
    if (sessionId !== undefined) {
      const session = this.enrolmentSession(sessionId);
      const user = this.directory.users.get(session.username as string) as UserState;
      user.pendingTotpSecret = secret;
      session.used = true;
      const next = this.sessions.continueWith(session, {});
      return { SecretCode: secret, Session: next.id };
    }
    const { user } = await this.tokens.requireAccessToken(input);
    user.pendingTotpSecret = secret;
    return { SecretCode: secret };
  }

  async verifySoftwareToken(input: Input): Promise<{ Status: 'SUCCESS'; Session?: string }> {
    const code = requireString(input, 'UserCode');
    const sessionId = optionalString(input, 'Session');
    const session = sessionId !== undefined ? this.enrolmentSession(sessionId) : undefined;
    const user = session ? (this.directory.users.get(session.username as string) as UserState) : (await this.tokens.requireAccessToken(input)).user;
    const pending = user.pendingTotpSecret;
    if (!pending) throw new UserPoolFault('InvalidParameterException', 'No software token is being associated (call AssociateSoftwareToken first).');
    if (!verifyTotp(pending, code, this.now())) {
      if (session) this.sessions.countWrongCode(session);
      throw new UserPoolFault('EnableSoftwareTokenMFAException', 'Code mismatch and fail enable Software Token MFA');
    }
    user.totpSecret = pending;
    delete user.pendingTotpSecret;
    if (!user.methods.includes('totp')) user.methods.push('totp');
    user.preferred ??= 'totp';
    if (!session) return { Status: 'SUCCESS' };
    session.used = true;
    return { Status: 'SUCCESS', Session: this.sessions.continueWith(session, { totpVerified: true }).id };
  }

  private enrolmentSession(id: string): AuthSession {
    const session = this.sessions.get(id);
    if (!session) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    const client = this.directory.clients.get(session.clientId) as ClientState;
    this.sessions.checkUsable(session, client);
    if (session.challenge !== 'MFA_SETUP') throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    return session;
  }
}
