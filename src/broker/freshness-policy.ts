const MINUTE_MS = 60_000;

/**
 * When something that expires (an ID token, a set of AWS credentials) is renewed and
 * how close to its expiry it may still be handed out.
 */
export interface FreshnessPolicy {
  /** Start renewing this long before expiry. */
  readonly refreshAheadMs: number;
  /** Hand it out in normal operation only with at least this much left. */
  readonly minRemainingMs: number;
  /** While Cognito is failing, keep handing it out down to this much left, never below. */
  readonly hardMinRemainingMs: number;
}

/**
 * Identity-pool credentials last one hour. botocore re-fetches on every call once fewer
 * than 15 minutes are left (its advisory window), so we serve at least 15 and start
 * renewing at 30: an outage of up to 15 minutes goes unnoticed by every client.
 */
export const CREDENTIALS_POLICY: FreshnessPolicy = {
  refreshAheadMs: 30 * MINUTE_MS,
  minRemainingMs: 15 * MINUTE_MS,
  hardMinRemainingMs: 1 * MINUTE_MS,
};

/**
 * ID tokens last 5 minutes to a day (default one hour); /token hands out one with at least
 * 5 minutes left. Renewing 15 minutes ahead, and serving down to 30 s while the user pool
 * fails, lets a user-pool outage of up to 14 minutes go unnoticed (10 were promised; a
 * 10-minute renewal point left 9.5).
 */
export const ID_TOKEN_POLICY: FreshnessPolicy = {
  refreshAheadMs: 15 * MINUTE_MS,
  minRemainingMs: 5 * MINUTE_MS,
  hardMinRemainingMs: 30_000,
};

/**
 * With short lifetimes (a 5-minute pool, 60-second test tokens) the margins shrink in
 * proportion: renew at half the lifetime, serve with at least a quarter left, and while
 * failing, down to a twelfth.
 */
export const SCALE_RATIOS = { refreshAhead: 1 / 2, minRemaining: 1 / 4, hardMinRemaining: 1 / 12 } as const;

export interface Expiring {
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export function scaledPolicy(policy: FreshnessPolicy, lifetimeMs: number): FreshnessPolicy {
  const life = Math.max(0, lifetimeMs);
  return {
    refreshAheadMs: Math.min(policy.refreshAheadMs, life * SCALE_RATIOS.refreshAhead),
    minRemainingMs: Math.min(policy.minRemainingMs, life * SCALE_RATIOS.minRemaining),
    hardMinRemainingMs: Math.min(policy.hardMinRemainingMs, life * SCALE_RATIOS.hardMinRemaining),
  };
}

function margins(item: Expiring, policy: FreshnessPolicy): FreshnessPolicy {
  return scaledPolicy(policy, item.expiresAt - item.issuedAt);
}

/** When renewal should start. */
export function refreshAt(item: Expiring, policy: FreshnessPolicy): number {
  return item.expiresAt - margins(item, policy).refreshAheadMs;
}

/** Good to hand out in normal operation. */
export function isFresh(item: Expiring | undefined, policy: FreshnessPolicy, now: number): item is Expiring {
  return item !== undefined && item.expiresAt - now >= margins(item, policy).minRemainingMs;
}

/** Still good to hand out while renewal is failing. */
export function isUsable(item: Expiring | undefined, policy: FreshnessPolicy, now: number): item is Expiring {
  return item !== undefined && item.expiresAt - now >= Math.max(1, margins(item, policy).hardMinRemainingMs);
}

export function isDue(item: Expiring | undefined, policy: FreshnessPolicy, now: number): boolean {
  return item === undefined || now >= refreshAt(item, policy);
}
