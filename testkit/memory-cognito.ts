import type { Clock } from '../src/broker/clock.js';
import type { AwsCredentials, CredentialExchanger, RefreshedTokens, RefreshRequest, TokenRefresher } from '../src/cognito/types.js';
import type { BrokerError } from '../src/errors.js';
import { IdentityPoolError } from '../src/errors.js';

type Behaviour = { kind: 'ok' } | { kind: 'fail'; error: () => BrokerError } | { kind: 'hang' };

export interface MemoryCognitoOptions {
  /** The clock token and credential times follow, and the one latency waits on. */
  readonly clock: Pick<Clock, 'now' | 'setTimeout'>;
  /** Default one hour, Cognito's default ID-token lifetime. */
  readonly idTokenLifetimeMs?: number;
  /** Default one hour, the identity pool's fixed lifetime. */
  readonly credentialLifetimeMs?: number;
  /** A fixed expiry for every credential set, instead of now + credentialLifetimeMs. */
  readonly credentialsExpireAt?: number;
  /** Simulated round trip of each call, on `clock`. */
  readonly latencyMs?: number;
  /** One IdentityId for every user (default: each user their own, see identityOf). */
  readonly identityId?: string;
  /**
   * Makes each credential set (default: short fake values, `ASIAFAKE<serial>`). `serial`
   * counts the fake's answers, so consecutive sets differ.
   */
  readonly credentials?: (issuedAt: number, expiresAt: number, serial: number, identityId: string) => AwsCredentials;
}

/**
 * Cognito in memory, on an injected clock: for the tests that control time and inject
 * failures, and for the benchmarks that measure the broker rather than the network. It
 * answers at once (or after `latencyMs`), counts every call, and issues tokens and
 * credentials whose times follow the clock. Tokens are opaque strings naming their user.
 * Each user has an IdentityId of their own, and GetCredentialsForIdentity refuses another
 * user's as Cognito does.
 */
export class MemoryCognito implements TokenRefresher, CredentialExchanger {
  readonly calls = { refresh: 0, getId: 0, getCredentials: 0 };
  readonly callTimes: { op: string; at: number }[] = [];
  refreshBehaviour: Behaviour = { kind: 'ok' };
  /** Rotate refresh tokens like an app client with rotation on: every refresh returns a new one. */
  rotateRefreshTokens = false;
  /** Every refresh request, as the broker sent it. */
  readonly refreshRequests: RefreshRequest[] = [];
  /** Every rotated refresh token handed out, oldest first. */
  readonly issuedRefreshTokens: string[] = [];
  identityBehaviour: Behaviour = { kind: 'ok' };
  private readonly hung: (() => void)[] = [];
  private serial = 0;

  constructor(private readonly options: MemoryCognitoOptions) {}

  async refresh(request: RefreshRequest): Promise<RefreshedTokens> {
    this.record('refresh');
    this.refreshRequests.push(request);
    await this.behave(this.refreshBehaviour);
    const now = this.options.clock.now();
    this.serial += 1;
    const rotated = this.rotateRefreshTokens ? { refreshToken: `rotated-refresh-token-${this.serial}` } : {};
    if (rotated.refreshToken) this.issuedRefreshTokens.push(rotated.refreshToken);
    const user = request.cognitoUsername ?? request.username ?? 'alice';
    return {
      idToken: `id-token-${this.serial}-${user}`,
      accessToken: `access-token-${this.serial}`,
      issuedAt: now,
      expiresAt: now + (this.options.idTokenLifetimeMs ?? 3_600_000),
      ...rotated,
    };
  }

  async getId(idToken: string): Promise<string> {
    this.record('getId');
    await this.behave(this.identityBehaviour);
    return this.identityOf(idToken);
  }

  async getCredentials(identityId: string, idToken: string): Promise<AwsCredentials> {
    this.record('getCredentials');
    await this.behave(this.identityBehaviour);
    if (identityId !== this.identityOf(idToken)) {
      throw new IdentityPoolError('NotAuthorizedException', "Logins don't match. Please include at least one valid login for this identity or identity pool.");
    }
    const now = this.options.clock.now();
    this.serial += 1;
    const expiresAt = this.options.credentialsExpireAt ?? now + (this.options.credentialLifetimeMs ?? 3_600_000);
    return (this.options.credentials ?? fakeCredentials)(now, expiresAt, this.serial, identityId);
  }

  /** Lets every hung call go on. */
  release(): void {
    for (const go of this.hung.splice(0)) go();
  }

  get totalCalls(): number {
    return this.calls.refresh + this.calls.getId + this.calls.getCredentials;
  }

  private identityOf(idToken: string): string {
    return this.options.identityId ?? identityOf(idToken);
  }

  private record(op: keyof MemoryCognito['calls']): void {
    this.calls[op] += 1;
    this.callTimes.push({ op, at: this.options.clock.now() });
  }

  private async behave(behaviour: Behaviour): Promise<void> {
    const latencyMs = this.options.latencyMs ?? 0;
    if (behaviour.kind === 'hang') await new Promise<void>((resolve) => this.hung.push(resolve));
    else if (latencyMs > 0) await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, latencyMs));
    if (behaviour.kind === 'fail') throw behaviour.error();
  }
}

/** The IdentityId of the user an ID token of this fake names: alice's is eu-west-1:11111111-2222-3333-4444-555555555555. */
export function identityOf(idToken: string): string {
  const user = idToken.replace(/^id-token-\d+-/, '');
  if (user === 'alice') return 'eu-west-1:11111111-2222-3333-4444-555555555555';
  const hex = Buffer.from(user).toString('hex').padStart(12, '0').slice(-12);
  return `eu-west-1:00000000-0000-0000-0000-${hex}`;
}

function fakeCredentials(issuedAt: number, expiresAt: number, serial: number, identityId: string): AwsCredentials {
  return {
    accessKeyId: `ASIAFAKE${String(serial).padStart(12, '0')}`,
    secretAccessKey: `secret-${serial}`,
    sessionToken: `session-${serial}`,
    issuedAt,
    expiresAt,
    identityId,
  };
}
