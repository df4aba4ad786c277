/**
 * Signing in: InitiateAuth (USER_SRP_AUTH, USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH) and
 * RespondToAuthChallenge through every challenge (PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED,
 * the MFA codes and the choice between them, MFA_SETUP, DEVICE_SRP_AUTH and
 * DEVICE_PASSWORD_VERIFIER), until the tokens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  INCORRECT_CREDENTIALS,
  missingParameter,
  optionalString,
  requireString,
  stringMap,
  UserPoolFault,
  type Input,
  type Parameters,
} from './api-protocol.js';
import {
  isAuthFlow,
  MFA_METHOD_CHALLENGES,
  missingRequiredAttributes,
  publicAttributes,
  type MfaChallenge,
  type UserDirectory,
} from './directory.js';
import { randomDigits, safeEqual } from './secrets.js';
import type { AuthSession, AuthSessions, ChallengeName, FlowProgress } from './sessions.js';
import { createPasswordVerifier, isValidSrpA, startSrpExchange, verifyPasswordClaim } from './srp-server.js';
import type { AuthenticationResult, CompletedSignIn, TokenService } from './token-service.js';
import { verifyTotp } from './totp.js';
import type { SentMessage } from './types.js';

/** A sign-in in progress, at the step a request has brought it to. */
interface FlowContext extends CompletedSignIn {
  done: FlowProgress;
}

export type AuthResponse =
  | { ChallengeName: ChallengeName; ChallengeParameters: Parameters; Session?: string }
  | { ChallengeParameters: Parameters; AuthenticationResult: AuthenticationResult };

// Real SECRET_BLOCKs are about 1 KB of opaque base64.
const SECRET_BLOCK_BYTES = 720;
const CODE_DIGITS = 6;
const MFA_CODE_PARAMETERS = { SMS_MFA: 'SMS_MFA_CODE', SOFTWARE_TOKEN_MFA: 'SOFTWARE_TOKEN_MFA_CODE', EMAIL_OTP: 'EMAIL_OTP_CODE' } as const;

export class SignInFlow {
  constructor(
    private readonly directory: UserDirectory,
    private readonly sessions: AuthSessions,
    private readonly tokens: TokenService,
    /** Where the codes "sent" by SMS and email go. */
    private readonly messages: SentMessage[],
    private readonly now: () => number,
  ) {}

  async initiateAuth(input: Input): Promise<AuthResponse> {
    const client = this.directory.requireClient(input);
    const flow = requireString(input, 'AuthFlow');
    const params = stringMap(input, 'AuthParameters');
    if (!isAuthFlow(flow) || !client.authFlows.has(flow)) {
      throw new UserPoolFault('InvalidParameterException', `${flow} flow not enabled for this client`);
    }
    if (flow === 'REFRESH_TOKEN_AUTH') {
      const token = params['REFRESH_TOKEN'];
      if (!token) throw missingParameter('REFRESH_TOKEN');
      const result = await this.tokens.refresh(client, token, params['DEVICE_KEY'], 'REFRESH_TOKEN_AUTH', (username) =>
        this.directory.checkSecretHash(client, username, params['SECRET_HASH']),
      );
      return { ChallengeParameters: {}, AuthenticationResult: result };
    }
    const username = params['USERNAME'];
    if (!username) throw missingParameter('USERNAME');
    this.directory.checkSecretHash(client, username, params['SECRET_HASH']);
    const user = this.directory.findUser(username);
    const authTime = Math.floor(this.now() / 1000);
    const done: FlowProgress = { newPassword: false, mfa: false, device: false };
    if (flow === 'USER_PASSWORD_AUTH') {
      const password = params['PASSWORD'];
      if (!password) throw missingParameter('PASSWORD');
      if (!user || user.password !== password) throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
      this.directory.requireEnabled(user);
      return this.advance({ client, user, deviceKey: params['DEVICE_KEY'], authTime, done });
    }
    const srpA = params['SRP_A'];
    if (!srpA) throw missingParameter('SRP_A');
    if (!isValidSrpA(srpA)) throw new UserPoolFault('InvalidParameterException', 'SRP_A is not a valid SRP public value.');
    // An unknown user gets a decoy challenge, as a pool that prevents user-existence errors.
    const verifier = user?.verifier.verifier ?? createPasswordVerifier(this.directory.poolName, username, randomUUID()).verifier;
    const saltHex = user?.verifier.saltHex ?? randomBytes(16).toString('hex');
    const session = this.sessions.create(client.clientId, user?.username, 'PASSWORD_VERIFIER', authTime, done, params['DEVICE_KEY']);
    const srp = startSrpChallenge(verifier, srpA);
    session.srp = srp;
    this.sessions.indexBySecretBlock(session, srp.secretBlock);
    const userIdForSrp = user?.username ?? username;
    // No Session: the client returns the SECRET_BLOCK, which identifies the exchange.
    return {
      ChallengeName: 'PASSWORD_VERIFIER',
      ChallengeParameters: {
        SALT: saltHex,
        SECRET_BLOCK: srp.secretBlock,
        SRP_B: srp.exchange.B.toString(16),
        USERNAME: userIdForSrp,
        USER_ID_FOR_SRP: userIdForSrp,
      },
    };
  }

  // --- RespondToAuthChallenge --------------------------------------------------------------

  async respondToAuthChallenge(input: Input): Promise<AuthResponse> {
    const client = this.directory.requireClient(input);
    const challenge = requireString(input, 'ChallengeName');
    const responses = stringMap(input, 'ChallengeResponses');
    const username = responses['USERNAME'];
    if (!username) throw missingParameter('USERNAME');
    this.directory.checkSecretHash(client, username, responses['SECRET_HASH']);
    // PASSWORD_VERIFIER comes without a Session: its SECRET_BLOCK names the exchange.
    const session =
      challenge === 'PASSWORD_VERIFIER'
        ? this.sessions.bySecretBlock(responses['PASSWORD_CLAIM_SECRET_BLOCK'])
        : this.sessions.take(optionalString(input, 'Session'), client);
    this.sessions.checkUsable(session, client);
    if (session.challenge !== challenge) {
      throw new UserPoolFault('InvalidParameterException', `Invalid challenge name ${challenge}: this session expects ${session.challenge}.`);
    }
    if (session.username === undefined) {
      // The decoy of an unknown user: the proof never verifies.
      session.used = true;
      throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    }
    const user = this.directory.users.get(session.username);
    if (!user || !this.directory.identifies(user, username)) throw new UserPoolFault('NotAuthorizedException', 'Invalid session for the user.');
    const context: FlowContext = {
      client,
      user,
      deviceKey: responses['DEVICE_KEY'] ?? session.deviceKey,
      authTime: session.authTime,
      done: { ...session.done },
    };
    switch (session.challenge) {
      case 'PASSWORD_VERIFIER':
        return this.answerPasswordVerifier(session, context, responses);
      case 'NEW_PASSWORD_REQUIRED':
        return this.answerNewPassword(session, context, responses);
      case 'SMS_MFA':
      case 'SOFTWARE_TOKEN_MFA':
      case 'EMAIL_OTP':
        return this.answerMfaCode(session, context, responses);
      case 'SELECT_MFA_TYPE':
        return this.answerSelectMfaType(session, context, responses);
      case 'MFA_SETUP':
        if (!session.totpVerified) {
          throw new UserPoolFault('InvalidParameterException', 'Software token MFA has not been verified in this session (VerifySoftwareToken).');
        }
        session.used = true;
        return this.advance({ ...context, done: { ...context.done, mfa: true } });
      case 'DEVICE_SRP_AUTH':
        return this.answerDeviceSrpAuth(session, context, responses);
      case 'DEVICE_PASSWORD_VERIFIER':
        return this.answerDevicePasswordVerifier(session, context, responses);
    }
  }

  private answerPasswordVerifier(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    session.used = true;
    const srp = session.srp;
    if (!srp || responses['PASSWORD_CLAIM_SECRET_BLOCK'] !== srp.secretBlock) {
      throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    }
    this.verifyClaim(srp, [this.directory.poolName, context.user.username], responses);
    this.directory.requireEnabled(context.user);
    return this.advance(context);
  }

  private answerNewPassword(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const password = responses['NEW_PASSWORD'];
    if (!password) throw missingParameter('NEW_PASSWORD');
    const problem = passwordPolicyProblem(password);
    if (problem) throw new UserPoolFault('InvalidPasswordException', `Password does not conform to policy: ${problem}`);
    const { user } = context;
    const given = Object.fromEntries(
      Object.entries(responses)
        .filter(([key]) => key.startsWith('userAttributes.'))
        .map(([key, value]) => [key.slice('userAttributes.'.length), value]),
    );
    const missing = missingRequiredAttributes(user).filter((name) => !given[name]);
    if (missing.length > 0) {
      throw new UserPoolFault('InvalidParameterException', `Invalid attributes given, ${missing[0]} is missing`);
    }
    session.used = true;
    for (const [name, value] of Object.entries(given)) {
      if (name === 'email') user.email = value;
      else if (name === 'phone_number') user.phoneNumber = value;
      else user.attributes[name] = value;
    }
    this.directory.setPassword(user, password);
    user.forceNewPassword = false;
    return this.advance({ ...context, done: { ...context.done, newPassword: true } });
  }

  private answerMfaCode(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const challenge = session.challenge as MfaChallenge;
    const parameter = MFA_CODE_PARAMETERS[challenge];
    const code = responses[parameter];
    if (!code) throw missingParameter(parameter);
    const valid =
      challenge === 'SOFTWARE_TOKEN_MFA'
        ? context.user.totpSecret !== undefined && verifyTotp(context.user.totpSecret, code, this.now())
        : session.code !== undefined && safeEqual(code, session.code);
    if (!valid) {
      this.sessions.countWrongCode(session);
      throw new UserPoolFault('CodeMismatchException', 'Invalid code or auth state for the user.');
    }
    session.used = true;
    return this.advance({ ...context, done: { ...context.done, mfa: true } });
  }

  private answerSelectMfaType(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const answer = responses['ANSWER'];
    if (!answer) throw missingParameter('ANSWER');
    const choice = session.mfaChoices?.find((c) => c === answer);
    if (!choice) throw new UserPoolFault('InvalidParameterException', `ANSWER must be one of ${JSON.stringify(session.mfaChoices ?? [])}.`);
    session.used = true;
    return Promise.resolve(this.mfaChallenge(context, choice));
  }

  private answerDeviceSrpAuth(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    const deviceKey = responses['DEVICE_KEY'];
    if (!deviceKey) throw missingParameter('DEVICE_KEY');
    const srpA = responses['SRP_A'];
    if (!srpA) throw missingParameter('SRP_A');
    if (!isValidSrpA(srpA)) throw new UserPoolFault('InvalidParameterException', 'SRP_A is not a valid SRP public value.');
    const device = context.user.devices.get(deviceKey);
    if (!device?.verifier || deviceKey !== session.deviceKey) {
      throw new UserPoolFault('ResourceNotFoundException', 'Device does not exist.');
    }
    session.used = true;
    const next = this.sessions.create(context.client.clientId, context.user.username, 'DEVICE_PASSWORD_VERIFIER', context.authTime, context.done, deviceKey);
    const srp = startSrpChallenge(device.verifier.verifier, srpA);
    next.srp = srp;
    return Promise.resolve({
      ChallengeName: 'DEVICE_PASSWORD_VERIFIER',
      ChallengeParameters: {
        USERNAME: context.user.username,
        DEVICE_KEY: deviceKey,
        SALT: device.verifier.saltHex,
        SRP_B: srp.exchange.B.toString(16),
        SECRET_BLOCK: srp.secretBlock,
      },
      Session: next.id,
    });
  }

  private answerDevicePasswordVerifier(session: AuthSession, context: FlowContext, responses: Parameters): Promise<AuthResponse> {
    session.used = true;
    const deviceKey = session.deviceKey as string;
    const device = context.user.devices.get(deviceKey);
    const srp = session.srp;
    if (!device || !srp || responses['DEVICE_KEY'] !== deviceKey || responses['PASSWORD_CLAIM_SECRET_BLOCK'] !== srp.secretBlock) {
      throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    }
    this.verifyClaim(srp, [device.deviceGroupKey, deviceKey], responses);
    this.directory.requireEnabled(context.user);
    return this.advance({ ...context, deviceKey, done: { ...context.done, device: true } });
  }

  /** PASSWORD_CLAIM_SIGNATURE over principal | SECRET_BLOCK | TIMESTAMP with the SRP key. */
  private verifyClaim(srp: NonNullable<AuthSession['srp']>, principal: readonly string[], responses: Parameters): void {
    const signature = responses['PASSWORD_CLAIM_SIGNATURE'];
    if (!signature) throw missingParameter('PASSWORD_CLAIM_SIGNATURE');
    const timestamp = responses['TIMESTAMP'];
    if (!timestamp) throw missingParameter('TIMESTAMP');
    if (!verifyPasswordClaim(srp.exchange, srp.srpA, principal, srp.secretBlock, timestamp, signature)) {
      throw new UserPoolFault('NotAuthorizedException', INCORRECT_CREDENTIALS);
    }
  }

  /** The next challenge of a sign-in whose password is verified, or its tokens. */
  private async advance(context: FlowContext): Promise<AuthResponse> {
    const { user, client, done } = context;
    if (user.forceNewPassword && !done.newPassword) {
      return this.challenge(context, 'NEW_PASSWORD_REQUIRED', {
        userAttributes: JSON.stringify(publicAttributes(user)),
        requiredAttributes: JSON.stringify(missingRequiredAttributes(user).map((name) => `userAttributes.${name}`)),
      });
    }
    const device = context.deviceKey !== undefined ? user.devices.get(context.deviceKey) : undefined;
    if (client.deviceTracking && device?.confirmed && device.remembered && device.verifier && !done.device) {
      // A remembered device proves itself with its own SRP verifier instead of MFA.
      return this.challenge(context, 'DEVICE_SRP_AUTH', {});
    }
    if (!done.mfa && !done.device) {
      const methods = user.methods.map((m) => MFA_METHOD_CHALLENGES[m]);
      const preferred = user.preferred !== undefined ? MFA_METHOD_CHALLENGES[user.preferred] : undefined;
      if (methods.length === 0 && user.mfaRequired) {
        return this.challenge(context, 'MFA_SETUP', { MFAS_CAN_SETUP: JSON.stringify(['SOFTWARE_TOKEN_MFA']) });
      }
      if (preferred !== undefined && methods.includes(preferred)) return this.mfaChallenge(context, preferred);
      if (methods.length === 1) return this.mfaChallenge(context, methods[0] as MfaChallenge);
      if (methods.length > 1) {
        const response = this.challenge(context, 'SELECT_MFA_TYPE', { MFAS_CAN_CHOOSE: JSON.stringify(methods) });
        (this.sessions.get(response.Session as string) as AuthSession).mfaChoices = methods;
        return response;
      }
    }
    return { ChallengeParameters: {}, AuthenticationResult: await this.tokens.signIn(context) };
  }

  private mfaChallenge(context: FlowContext, challenge: MfaChallenge): AuthResponse & { Session: string } {
    const { user } = context;
    if (challenge === 'SOFTWARE_TOKEN_MFA') return this.challenge(context, challenge, {});
    const channel = challenge === 'SMS_MFA' ? 'sms' : 'email';
    const destination = (channel === 'sms' ? user.phoneNumber : user.email) ?? '';
    const code = randomDigits(CODE_DIGITS);
    this.messages.push({ channel, username: user.username, destination, code, at: this.now() });
    const response = this.challenge(context, challenge, {
      CODE_DELIVERY_DELIVERY_MEDIUM: channel === 'sms' ? 'SMS' : 'EMAIL',
      CODE_DELIVERY_DESTINATION: channel === 'sms' ? maskPhone(destination) : maskEmail(destination),
    });
    (this.sessions.get(response.Session) as AuthSession).code = code;
    return response;
  }

  private challenge(context: FlowContext, name: ChallengeName, parameters: Parameters): AuthResponse & { Session: string } {
    const session = this.sessions.create(context.client.clientId, context.user.username, name, context.authTime, context.done, context.deviceKey);
    return { ChallengeName: name, ChallengeParameters: { USER_ID_FOR_SRP: context.user.username, ...parameters }, Session: session.id };
  }
}

/** The server's side of one SRP exchange, and the SECRET_BLOCK that names it. */
function startSrpChallenge(verifier: bigint, srpA: string): NonNullable<AuthSession['srp']> {
  const secretBlock = randomBytes(SECRET_BLOCK_BYTES).toString('base64');
  return { exchange: startSrpExchange(verifier), secretBlock, srpA };
}

/** Cognito's default policy: 8 characters, upper and lower case, a digit and a symbol. */
function passwordPolicyProblem(password: string): string | undefined {
  if (password.length < 8) return 'Password not long enough';
  if (!/[a-z]/.test(password)) return 'Password must have lowercase characters';
  if (!/[A-Z]/.test(password)) return 'Password must have uppercase characters';
  if (!/\d/.test(password)) return 'Password must have numeric characters';
  if (!/[^A-Za-z0-9]/.test(password)) return 'Password must have symbol characters';
  return undefined;
}

function maskPhone(phone: string): string {
  return `+*******${phone.slice(-4)}`;
}

function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.charAt(0)}***@${domain.charAt(0)}***`;
}
