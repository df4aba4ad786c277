import type { AwsCredentials, CredentialExchanger, RefreshedTokens, RefreshRequest, TokenRefresher } from '../../src/cognito/types.js';
import type { BrokerError } from '../../src/errors.js';
import type { FakeClock } from './fake-clock.js';
import { IdentityPoolError } from '../../src/errors.js';

type Behaviour = { kind: 'ok' } | { kind: 'fail'; error: () => BrokerError } | { kind: 'hang' };

/**
 * Cognito in fake time, for what the real local stack cannot do: control the clock and
 * inject failures. Tokens are opaque strings here, naming their user; their times follow
 * the fake clock. Each user has an IdentityId of their own, and GetCredentialsForIdentity
 * refuses another user's as Cognito does.
 */
export class FakeUpstream implements TokenRefresher, CredentialExchanger {
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

  constructor(
    private readonly clock: FakeClock,
    readonly idTokenLifetimeMs = 60 * 60_000,
    readonly credentialsLifetimeMs = 60 * 60_000,
    /** Simulated round trip of each call. */
    readonly latencyMs = 0,
  ) {}

  async refresh(request: RefreshRequest): Promise<RefreshedTokens> {
    this.record('refresh');
    this.refreshRequests.push(request);
    await this.behave(this.refreshBehaviour);
    const now = this.clock.now();
    this.serial += 1;
    const rotated = this.rotateRefreshTokens ? { refreshToken: `rotated-refresh-token-${this.serial}` } : {};
    if (rotated.refreshToken) this.issuedRefreshTokens.push(rotated.refreshToken);
    const user = request.cognitoUsername ?? request.username ?? 'alice';
    return { idToken: `id-token-${this.serial}-${user}`, accessToken: `access-token-${this.serial}`, issuedAt: now, expiresAt: now + this.idTokenLifetimeMs, ...rotated };
  }

  async getId(idToken: string): Promise<string> {
    this.record('getId');
    await this.behave(this.identityBehaviour);
    return identityOf(idToken);
  }

  async getCredentials(identityId: string, idToken: string): Promise<AwsCredentials> {
    this.record('getCredentials');
    await this.behave(this.identityBehaviour);
    if (identityId !== identityOf(idToken)) {
      throw new IdentityPoolError('NotAuthorizedException', "Logins don't match. Please include at least one valid login for this identity or identity pool.");
    }
    const now = this.clock.now();
    this.serial += 1;
    return {
      accessKeyId: `ASIAFAKE${String(this.serial).padStart(12, '0')}`,
      secretAccessKey: `secret-${this.serial}`,
      sessionToken: `session-${this.serial}`,
      issuedAt: now,
      expiresAt: now + this.credentialsLifetimeMs,
      identityId,
    };
  }

  /** Lets every hung call go on. */
  release(): void {
    for (const go of this.hung.splice(0)) go();
  }

  get totalCalls(): number {
    return this.calls.refresh + this.calls.getId + this.calls.getCredentials;
  }

  private record(op: keyof FakeUpstream['calls']): void {
    this.calls[op] += 1;
    this.callTimes.push({ op, at: this.clock.now() });
  }

  private async behave(behaviour: Behaviour): Promise<void> {
    if (behaviour.kind === 'hang') await new Promise<void>((resolve) => this.hung.push(resolve));
    else if (this.latencyMs > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.latencyMs));
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
