/**
 * Cognito in memory, for the benchmarks that measure the broker itself rather than the
 * network: it answers at once (or after `latencyMs` of the injected clock), counts every
 * call, and issues tokens and credentials whose times follow that clock.
 */
import type { Clock } from '../../src/broker/clock.js';
import type { AwsCredentials, CredentialExchanger, TokenRefresher, UserPoolTokens } from '../../src/cognito/types.js';
import { BENCH_IDENTITY_ID, benchCredentials } from './bench-credentials.js';

export interface MemoryUpstreamOptions {
  readonly clock: Pick<Clock, 'now' | 'setTimeout'>;
  /** Default one hour, Cognito's default ID-token lifetime. */
  readonly idTokenLifetimeMs?: number;
  /** Default one hour, the identity pool's fixed lifetime. */
  readonly credentialLifetimeMs?: number;
  /** A fixed expiry for every credential set (the throughput benchmark serves identical bytes). */
  readonly credentialsExpireAt?: number;
  /** Simulated round trip of each call, on `clock`. */
  readonly latencyMs?: number;
}

export class MemoryUpstream implements TokenRefresher, CredentialExchanger {
  readonly calls = { refresh: 0, getId: 0, getCredentials: 0 };
  private serial = 0;

  constructor(private readonly options: MemoryUpstreamOptions) {}

  get total(): number {
    return this.calls.refresh + this.calls.getId + this.calls.getCredentials;
  }

  async refresh(): Promise<UserPoolTokens> {
    this.calls.refresh += 1;
    await this.roundTrip();
    const now = this.options.clock.now();
    this.serial += 1;
    return {
      idToken: `bench-id-token-${this.serial}`,
      accessToken: `bench-access-token-${this.serial}`,
      issuedAt: now,
      expiresAt: now + (this.options.idTokenLifetimeMs ?? 3_600_000),
    };
  }

  async getId(): Promise<string> {
    this.calls.getId += 1;
    await this.roundTrip();
    return BENCH_IDENTITY_ID;
  }

  async getCredentials(): Promise<AwsCredentials> {
    this.calls.getCredentials += 1;
    await this.roundTrip();
    const now = this.options.clock.now();
    this.serial += 1;
    const expiresAt = this.options.credentialsExpireAt ?? now + (this.options.credentialLifetimeMs ?? 3_600_000);
    // With a fixed expiry every set is byte-identical (serial 1), as the baselines serve.
    return benchCredentials(now, expiresAt, this.options.credentialsExpireAt === undefined ? this.serial : 1);
  }

  private async roundTrip(): Promise<void> {
    const delay = this.options.latencyMs ?? 0;
    if (delay > 0) await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, delay));
  }
}
