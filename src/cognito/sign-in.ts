import { isLoopbackUrl } from '../config/loopback.js';
import {
  type BrokerError,
  ChallengeUnsupportedError,
  ClientSecretError,
  DeviceRefusedError,
  isBrokerError,
  MfaCodeMismatchError,
  SignInFailedError,
  SrpUnsupportedError,
  UpstreamRejectedError,
} from '../errors.js';
import { createDeviceSecrets, type DeviceSecrets, type SrpExchange, startDeviceSrp, startPasswordSrp } from './srp.js';
import type { AuthChallenge, NewDeviceMetadata, SignInContext, SignInStep, UserPoolClient } from './user-pool-client.js';
import type { SignInTokens } from './types.js';
import { SignInRefusedError, UnsupportedByServerError } from '../errors.js';

/** `srp`: USER_SRP_AUTH (the password never leaves the machine); `user-password`: USER_PASSWORD_AUTH. */
export type PasswordFlow = 'srp' | 'user-password';

export type MfaMethod = 'SMS' | 'TOTP' | 'EMAIL';

/**
 * What sign-in needs to ask the person at the keyboard. `refused` is set when the previous
 * answer to the same question was refused (Cognito's message), so the user can try again
 * within the same challenge session.
 */
export type SignInQuestion =
  | { readonly kind: 'new-password'; readonly refused?: string | undefined }
  | { readonly kind: 'attribute'; readonly name: string }
  | { readonly kind: 'mfa-code'; readonly method: MfaMethod; readonly destination?: string | undefined; readonly refused?: string | undefined }
  | { readonly kind: 'mfa-method'; readonly options: readonly MfaMethod[] }
  | { readonly kind: 'totp-setup'; readonly secretCode: string; readonly uri: string; readonly refused?: string | undefined };

/** Answers a question: a password, an attribute value, a code, or the chosen MfaMethod. */
export type AskUser = (question: SignInQuestion) => Promise<string>;

export type SignInClient = Pick<UserPoolClient, 'initiateAuth' | 'respondToChallenge' | 'associateSoftwareToken' | 'verifySoftwareToken'>;

export interface SignInRequest {
  readonly flow: PasswordFlow;
  /** SRP proofs are bound to the pool (the part after the `_`). */
  readonly userPoolId: string;
  readonly username: string;
  readonly password: string;
  readonly clientSecret?: string | undefined;
  /** A device remembered at an earlier sign-in: answers DEVICE_SRP_AUTH instead of an MFA code. */
  readonly device?: DeviceSecrets | undefined;
  readonly ask: AskUser;
  /** For the SRP TIMESTAMP. */
  readonly now?: (() => number) | undefined;
  /** The issuer shown by authenticator apps for a TOTP enrolled during MFA_SETUP. */
  readonly totpIssuer?: string | undefined;
  /**
   * The user pool's endpoint (the profile's endpoints.cognitoIdp); undefined for AWS's own.
   * Decides whether onSrpUnsupported may be used.
   */
  readonly userPoolEndpoint?: string | undefined;
  /**
   * Called when `srp` was not chosen explicitly and a user pool on this machine (cognito-local,
   * a local emulator: userPoolEndpoint is a loopback URL) does not implement USER_SRP_AUTH at
   * all: the sign-in then uses USER_PASSWORD_AUTH. Anywhere else, or without it, such an
   * answer is SrpUnsupportedError: real Cognito never gives it (it refuses a disabled flow
   * with InvalidParameterException), so a server that does could be anything, and the
   * password is not sent to it in plain text without the user's explicit choice.
   */
  readonly onSrpUnsupported?: (() => void) | undefined;
}

export interface SignInResult {
  readonly tokens: SignInTokens;
  /** The pool's own name for the user, as the challenges named it (USER_ID_FOR_SRP), when they did. */
  readonly cognitoUsername?: string | undefined;
  /** The device the tokens are bound to (send DEVICE_KEY on refresh): the remembered one, or a new one. */
  readonly deviceKey?: string | undefined;
  /** The pool started tracking a new device: confirm it with confirmNewDevice. */
  readonly newDevice?: NewDeviceMetadata | undefined;
  /** The remembered device was refused or not used (the pool forgot it): it should be dropped from the keychain. */
  readonly deviceRefused?: boolean | undefined;
}

// Cognito ends a challenge session after a few wrong answers anyway; this only stops a
// misbehaving pool from keeping us in a loop.
const MAX_CHALLENGE_ROUNDS = 8;
/** Tries at one code or one new password within a challenge session (Cognito allows about three). */
export const MAX_ANSWER_ATTEMPTS = 3;

const MFA_CHALLENGES: Readonly<Record<string, { method: MfaMethod; answer: string }>> = {
  SMS_MFA: { method: 'SMS', answer: 'SMS_MFA_CODE' },
  SOFTWARE_TOKEN_MFA: { method: 'TOTP', answer: 'SOFTWARE_TOKEN_MFA_CODE' },
  EMAIL_OTP: { method: 'EMAIL', answer: 'EMAIL_OTP_CODE' },
};
const CHALLENGE_OF_METHOD: Readonly<Record<MfaMethod, string>> = { SMS: 'SMS_MFA', TOTP: 'SOFTWARE_TOKEN_MFA', EMAIL: 'EMAIL_OTP' };

/**
 * Signs in with a password (SRP by default) and answers every challenge the pool asks,
 * following the InitiateAuth / RespondToAuthChallenge documentation. A remembered device
 * the pool refuses is dropped and the sign-in done again without it (it then asks for MFA).
 */
export async function signIn(client: SignInClient, request: SignInRequest): Promise<SignInResult> {
  if (request.device) {
    try {
      return await new SignInConversation(client, request).run();
    } catch (error) {
      if (!isDeviceRefusal(error)) throw error;
      const result = await new SignInConversation(client, { ...request, device: undefined }).run();
      return { ...result, deviceRefused: true };
    }
  }
  return new SignInConversation(client, request).run();
}

/**
 * Registers a device the pool started tracking: a fresh device password, its SRP verifier
 * to ConfirmDevice, and, on pools that remember devices only when the user agrees
 * (UserConfirmationNecessary), the user's agreement (UpdateDeviceStatus "remembered"): the
 * user asked for it by signing in without --no-remember-device. Returns the secrets to keep.
 */
export async function confirmNewDevice(
  client: Pick<UserPoolClient, 'confirmDevice' | 'rememberDevice'>,
  accessToken: string,
  device: NewDeviceMetadata,
  deviceName: string,
): Promise<DeviceSecrets> {
  const { devicePassword, passwordVerifier, salt } = createDeviceSecrets(device.deviceKey, device.deviceGroupKey);
  const { userConfirmationNecessary } = await client.confirmDevice(accessToken, device.deviceKey, { passwordVerifier, salt }, deviceName);
  if (userConfirmationNecessary) await client.rememberDevice(accessToken, device.deviceKey);
  return { deviceKey: device.deviceKey, deviceGroupKey: device.deviceGroupKey, devicePassword };
}

/** The otpauth:// URI authenticator apps read (Google Authenticator's "Key Uri Format"). */
export function otpauthUri(issuer: string, account: string, secretCode: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  return `otpauth://totp/${label}?secret=${encodeURIComponent(secretCode)}&issuer=${encodeURIComponent(issuer)}`;
}

/** One sign-in: the SRP and device exchanges it started, and the user seen by the challenges. */
class SignInConversation {
  private readonly context: SignInContext;
  private readonly now: () => number;
  private passwordSrp: SrpExchange | undefined;
  private deviceSrp: SrpExchange | undefined;
  private cognitoUsername: string | undefined;
  private deviceAuthenticated = false;

  constructor(
    private readonly client: SignInClient,
    private readonly request: SignInRequest,
  ) {
    this.context = { clientSecret: request.clientSecret, deviceKey: request.device?.deviceKey };
    this.now = request.now ?? Date.now;
  }

  async run(): Promise<SignInResult> {
    let step = await this.start();
    for (let round = 0; round < MAX_CHALLENGE_ROUNDS; round += 1) {
      if (step.kind === 'signed-in') {
        // A remembered device the pool did not authenticate is not one it knows (any more):
        // the tokens are not bound to it, and it is not worth keeping.
        const unused = this.request.device !== undefined && !this.deviceAuthenticated;
        return {
          tokens: step.tokens,
          cognitoUsername: this.cognitoUsername,
          deviceKey: step.newDevice?.deviceKey ?? (this.deviceAuthenticated ? this.request.device?.deviceKey : undefined),
          newDevice: step.newDevice,
          ...(unused ? { deviceRefused: true } : {}),
        };
      }
      this.cognitoUsername = step.challenge.username;
      step = await this.answer(step.challenge);
    }
    throw new SignInFailedError(`The user pool kept asking challenges after ${MAX_CHALLENGE_ROUNDS} answers; giving up.`);
  }

  private async start(): Promise<SignInStep> {
    const { flow, username, password, userPoolId } = this.request;
    if (flow === 'user-password') return this.client.initiateAuth('USER_PASSWORD_AUTH', username, { PASSWORD: password }, this.context);
    this.passwordSrp = startPasswordSrp(username, password, userPoolId, this.now);
    try {
      return await this.client.initiateAuth('USER_SRP_AUTH', username, { SRP_A: this.passwordSrp.srpA }, this.context);
    } catch (error) {
      if (!(error instanceof UnsupportedByServerError)) throw error;
      const { userPoolEndpoint, onSrpUnsupported } = this.request;
      if (!onSrpUnsupported || !isLoopbackUrl(userPoolEndpoint)) throw new SrpUnsupportedError(describeEndpoint(userPoolEndpoint), { cause: error });
      onSrpUnsupported();
      this.passwordSrp = undefined;
      return this.client.initiateAuth('USER_PASSWORD_AUTH', username, { PASSWORD: password }, this.context);
    }
  }

  private async answer(challenge: AuthChallenge): Promise<SignInStep> {
    const mfa = MFA_CHALLENGES[challenge.name];
    if (mfa) {
      const question = { kind: 'mfa-code', method: mfa.method, destination: challenge.parameters.CODE_DELIVERY_DESTINATION } as const;
      return this.withRetries((refused) => this.request.ask({ ...question, refused }), (code) => this.respond(challenge, { [mfa.answer]: code.trim() }), isWrongCode);
    }
    switch (challenge.name) {
      case 'PASSWORD_VERIFIER':
        if (!this.passwordSrp) throw new ChallengeUnsupportedError(`${challenge.name} (the pool asked for an SRP proof after a plain password sign-in)`);
        return this.respond(challenge, this.passwordSrp.answer(challenge.parameters));
      case 'DEVICE_SRP_AUTH':
        return deviceStep(() => this.startDeviceAuth(challenge));
      case 'DEVICE_PASSWORD_VERIFIER': {
        const deviceSrp = this.deviceSrp;
        if (!deviceSrp) throw new ChallengeUnsupportedError(`${challenge.name} (no device authentication was started)`);
        const step = await deviceStep(() => this.respond(challenge, deviceSrp.answer(challenge.parameters)));
        this.deviceAuthenticated = true;
        return step;
      }
      case 'NEW_PASSWORD_REQUIRED':
        return this.newPassword(challenge);
      case 'SELECT_MFA_TYPE':
        return this.selectMfaType(challenge);
      case 'MFA_SETUP':
        return this.setUpTotp(challenge);
      default:
        throw new ChallengeUnsupportedError(challenge.name);
    }
  }

  private async startDeviceAuth(challenge: AuthChallenge): Promise<SignInStep> {
    const device = this.request.device;
    if (!device) throw new ChallengeUnsupportedError(`${challenge.name} (no remembered device on this machine)`);
    this.deviceSrp = startDeviceSrp(device, this.request.userPoolId, this.now);
    return this.respond(challenge, { DEVICE_KEY: device.deviceKey, SRP_A: this.deviceSrp.srpA });
  }

  /** NEW_PASSWORD_REQUIRED: a new password, and a value for each attribute in requiredAttributes. */
  private async newPassword(challenge: AuthChallenge): Promise<SignInStep> {
    const required = jsonStrings(challenge.parameters.requiredAttributes).map((a) => a.replace(/^userAttributes\./, ''));
    let attributes: Record<string, string> | undefined;
    return this.withRetries(
      async (refused) => {
        const newPassword = await this.request.ask({ kind: 'new-password', refused });
        if (!attributes) {
          attributes = {};
          for (const name of required) attributes[`userAttributes.${name}`] = await this.request.ask({ kind: 'attribute', name });
        }
        return newPassword;
      },
      (newPassword) => this.respond(challenge, { NEW_PASSWORD: newPassword, ...attributes }),
      // The pool's password policy refused it: the same session takes another.
      (error) => error instanceof SignInRefusedError && error.awsName === 'InvalidPasswordException',
    );
  }

  private async selectMfaType(challenge: AuthChallenge): Promise<SignInStep> {
    const options = jsonStrings(challenge.parameters.MFAS_CAN_CHOOSE).flatMap((name) => (MFA_CHALLENGES[name] ? [MFA_CHALLENGES[name].method] : []));
    if (options.length === 0) throw new ChallengeUnsupportedError(`${challenge.name} (none of the offered methods, ${challenge.parameters.MFAS_CAN_CHOOSE ?? 'none'}, is one we know)`);
    const chosen = options.length === 1 ? options[0] : await this.request.ask({ kind: 'mfa-method', options });
    const method = options.find((m) => m === chosen);
    if (!method) throw new SignInFailedError(`"${chosen}" is not one of the MFA methods offered (${options.join(', ')}).`);
    return this.respond(challenge, { ANSWER: CHALLENGE_OF_METHOD[method] });
  }

  /**
   * MFA_SETUP: enrol an authenticator app (AssociateSoftwareToken → show the secret →
   * VerifySoftwareToken with a code from the app), then answer the challenge with the
   * session VerifySoftwareToken returned.
   */
  private async setUpTotp(challenge: AuthChallenge): Promise<SignInStep> {
    const offered = jsonStrings(challenge.parameters.MFAS_CAN_SETUP);
    if (offered.length > 0 && !offered.includes('SOFTWARE_TOKEN_MFA')) {
      throw new ChallengeUnsupportedError(`${challenge.name} for ${offered.join(', ')} (only authenticator-app (TOTP) enrolment is supported; enrol in your app first)`);
    }
    const { secretCode, session } = await this.client.associateSoftwareToken(challenge.session);
    const uri = otpauthUri(this.request.totpIssuer ?? 'Amazon Cognito', this.request.username, secretCode);
    const verified = await this.withRetries(
      (refused) => this.request.ask({ kind: 'totp-setup', secretCode, uri, refused }),
      (code) => this.client.verifySoftwareToken(session, code.trim(), 'cognito-broker'),
      isWrongCode,
    );
    return this.respond({ ...challenge, session: verified.session }, {});
  }

  private respond(challenge: AuthChallenge, answers: Record<string, string>): Promise<SignInStep> {
    return this.client.respondToChallenge(challenge, answers, this.context);
  }

  /** Asks, sends; when the answer is refused in a way another answer can fix, asks again (same session). */
  private async withRetries<T>(ask: (refused: string | undefined) => Promise<string>, send: (answer: string) => Promise<T>, retryable: (error: unknown) => boolean): Promise<T> {
    let refused: string | undefined;
    for (let attempt = 1; ; attempt += 1) {
      const answer = await ask(refused);
      try {
        return await send(answer);
      } catch (error) {
        if (attempt >= MAX_ANSWER_ATTEMPTS || !retryable(error)) throw error;
        refused = (error as BrokerError).message;
      }
    }
  }
}

/** A refusal during device authentication is about the device, unless it is an outage. */
async function deviceStep(step: () => Promise<SignInStep>): Promise<SignInStep> {
  try {
    return await step();
  } catch (error) {
    if (isBrokerError(error) && !error.retryable && !(error instanceof ClientSecretError)) throw new DeviceRefusedError(error);
    throw error;
  }
}

function isWrongCode(error: unknown): boolean {
  return error instanceof MfaCodeMismatchError;
}

/**
 * The remembered device did not work: the pool refused it during device authentication,
 * or named it when refusing InitiateAuth (ResourceNotFoundException "Device does not
 * exist"). A wrong password, a wrong client secret or an outage are not about the device
 * and are not retried without it.
 */
function isDeviceRefusal(error: unknown): boolean {
  if (error instanceof DeviceRefusedError) return true;
  return (error instanceof SignInRefusedError || error instanceof UpstreamRejectedError) && /device/i.test(error.message);
}

/** Where the pool was called, for messages: the origin only (a URL could carry more). */
function describeEndpoint(endpoint: string | undefined): string {
  if (endpoint === undefined) return 'the AWS endpoint of its region';
  return URL.canParse(endpoint) ? new URL(endpoint).origin : 'the configured endpoints.cognitoIdp';
}

/** Cognito sends lists inside ChallengeParameters as JSON text: '["SMS_MFA","SOFTWARE_TOKEN_MFA"]'. */
function jsonStrings(text: string | undefined): string[] {
  if (!text) return [];
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}
