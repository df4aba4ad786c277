import { decodeJwt } from 'jose/jwt/decode';
import type { DeveloperIdentityConfig } from '../config/config.js';
import { IdentityCommandFailedError, IdentityCommandOutputError, LoginRequiredError } from '../errors.js';
import type { AwsCredentials, CredentialExchanger, RefreshedTokens, TokenRefresher } from './types.js';

/** How one run of the organisation's command ended. `stdout` is a secret: it holds the OpenID token. */
export interface IdentityCommandResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  /** The run took longer than its timeout and was killed. */
  readonly timedOut?: boolean | undefined;
  /** The program could not be started (its errno code, such as ENOENT or EACCES). */
  readonly spawnError?: string | undefined;
  /** Stdout grew past what a token answer can be; the rest was not read. */
  readonly overflow?: boolean | undefined;
}

/** Runs the profile's developerIdentity command once (app/ spawns it; tests pass their own). */
export interface IdentityCommand {
  run(): Promise<IdentityCommandResult>;
}

/** A developer identity's token and the IdentityId it belongs to, as the command printed them. */
export interface DeveloperToken {
  readonly identityId: string;
  readonly token: string;
  readonly expiresAt: number;
  readonly issuedAt: number;
}

// The identity id as the Cognito API constrains it (region:uuid).
const IDENTITY_ID = /^[\w-]+:[0-9a-f-]+$/;
/** Cognito's longest OpenID token lifetime (24 hours); a longer TokenDuration is a mistake. */
const TOKEN_DURATION_MAX_SECONDS = 86_400;

/**
 * Reads what the command printed: one JSON object {"IdentityId","Token"} (the answer of
 * GetOpenIdTokenForDeveloperIdentity), optionally with the "TokenDuration" the backend
 * asked for, in seconds. The token must decode as a JWT with `exp`: its lifetime sets when
 * the command runs again. Nothing of stdout is ever quoted in an error.
 */
export function parseIdentityCommandOutput(profile: string, result: IdentityCommandResult, config: Pick<DeveloperIdentityConfig, 'notSignedInExitCode' | 'timeoutSeconds'>, now: number): DeveloperToken {
  if (result.spawnError !== undefined) throw new IdentityCommandFailedError(profile, `could not be started (${result.spawnError})`);
  if (result.timedOut) throw new IdentityCommandFailedError(profile, `did not finish within ${config.timeoutSeconds} s and was stopped`);
  if (result.signal !== null) throw new IdentityCommandFailedError(profile, `was ended by ${result.signal}`);
  if (result.exitCode === config.notSignedInExitCode) {
    throw new LoginRequiredError(profile, `its developerIdentity command exited with ${config.notSignedInExitCode}: not signed in at the organisation's backend`);
  }
  if (result.exitCode !== 0) throw new IdentityCommandFailedError(profile, `exited with ${String(result.exitCode)}`);
  if (result.overflow) throw new IdentityCommandOutputError(profile, 'more than a token answer on stdout');
  let value: unknown;
  try {
    value = JSON.parse(result.stdout);
  } catch {
    throw new IdentityCommandOutputError(profile, 'something that is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new IdentityCommandOutputError(profile, 'JSON that is not an object');
  const { IdentityId: identityId, Token: token, TokenDuration: duration } = value as Record<string, unknown>;
  if (typeof identityId !== 'string' || !IDENTITY_ID.test(identityId)) throw new IdentityCommandOutputError(profile, 'no "IdentityId" such as "eu-west-1:1b2c…-uuid"');
  if (typeof token !== 'string' || token === '') throw new IdentityCommandOutputError(profile, 'no "Token"');
  if (duration !== undefined && (typeof duration !== 'number' || !(duration > 0) || duration > TOKEN_DURATION_MAX_SECONDS)) {
    throw new IdentityCommandOutputError(profile, `a "TokenDuration" that is not a number of seconds, 1-${TOKEN_DURATION_MAX_SECONDS}`);
  }
  const exp = expiryOf(token);
  if (exp === undefined) throw new IdentityCommandOutputError(profile, 'a "Token" that is not a JWT with an "exp" claim');
  // The token's exp is what Cognito checks; TokenDuration, by our clock, guards against a skewed one.
  const expiresAt = Math.min(exp * 1000, duration === undefined ? Number.POSITIVE_INFINITY : now + duration * 1000);
  return { identityId, token, expiresAt, issuedAt: now };
}

function expiryOf(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The sign-in of a developerIdentity profile: the organisation's command, run whenever the
 * OpenID token is due (the broker's refresh schedule), gives the token; the keychain holds no
 * secret for it. As the refresher its token stands for the ID token (and the access token:
 * there is no other); as the identity pool's source of IdentityIds it answers GetId from what
 * the command printed, so no GetId call is made.
 */
export class DeveloperIdentity implements TokenRefresher {
  private last: DeveloperToken | undefined;

  constructor(
    private readonly profile: string,
    private readonly config: Pick<DeveloperIdentityConfig, 'notSignedInExitCode' | 'timeoutSeconds'>,
    private readonly command: IdentityCommand,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs the command; what a stored session holds is not needed (there is no refresh token). */
  async refresh(): Promise<RefreshedTokens> {
    const given = await this.token();
    return { idToken: given.token, accessToken: given.token, expiresAt: given.expiresAt, issuedAt: given.issuedAt };
  }

  /** One run of the command, read; the IdentityId is kept for identityIdFor(). */
  async token(): Promise<DeveloperToken> {
    const result = await this.command.run();
    this.last = parseIdentityCommandOutput(this.profile, result, this.config, this.now());
    return this.last;
  }

  /** The IdentityId the command printed with this token; for a token from elsewhere (a borrowing profile), the token's `sub`. */
  identityIdFor(token: string): string {
    if (this.last?.token === token) return this.last.identityId;
    try {
      const { sub } = decodeJwt(token);
      if (typeof sub === 'string' && IDENTITY_ID.test(sub)) return sub;
    } catch {
      // Not a JWT: the command's answer was checked, so this is not ours.
    }
    throw new IdentityCommandOutputError(this.profile, 'a "Token" whose IdentityId is unknown');
  }
}

/**
 * The identity-pool side of a developer identity: no GetId (the backend's answer names the
 * IdentityId), and GetCredentialsForIdentity with the token under the Logins key
 * cognito-identity.amazonaws.com (the IdentityPoolClient given is set up so).
 */
export class DeveloperIdentityPool implements CredentialExchanger {
  constructor(
    private readonly identity: Pick<DeveloperIdentity, 'identityIdFor'>,
    private readonly pool: CredentialExchanger,
  ) {}

  async getId(token: string): Promise<string> {
    return this.identity.identityIdFor(token);
  }

  getCredentials(identityId: string, token: string, customRoleArn?: string): Promise<AwsCredentials> {
    return this.pool.getCredentials(identityId, token, customRoleArn);
  }
}
