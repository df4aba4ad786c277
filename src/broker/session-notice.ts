import { loginCommand } from '../errors.js';

/**
 * What a user is told of, unasked (a desktop notification, `notify.command`): the profile
 * needs a new `login` now, or its sign-in ends soon.
 */
export interface SessionNotice {
  readonly profile: string;
  readonly state: 'login-required' | 'ends-soon';
  /** One or two sentences, ending with the command to run; nothing secret. */
  readonly message: string;
  /**
   * What the notice is about (the refused refresh token, or the sign-in that ends): a
   * notice is raised once per key, however often the phase goes back and forth.
   */
  readonly key: string;
}

/** A sign-in "ends soon" this long before its end… */
export const ENDS_SOON_MS = 24 * 3_600_000;
/** …or, for a lifetime under four days, in its last quarter (a 60-minute lifetime: 15 minutes before). */
export const ENDS_SOON_SHARE = 0.25;

/** How long before a sign-in of this lifetime ends it counts as ending soon. */
export function endsSoonWindowMs(lifetimeMs: number): number {
  return Math.min(ENDS_SOON_MS, lifetimeMs * ENDS_SOON_SHARE);
}

export function loginRequiredNotice(profile: string, why: string, fingerprint: string | undefined): SessionNotice {
  return { profile, state: 'login-required', message: why, key: `login-required:${fingerprint ?? 'unknown'}` };
}

export function endsSoonNotice(profile: string, signedInAt: number, endsAt: number, now: number): SessionNotice {
  const left = endsAt - now;
  const when = left > 0 ? `ends in ${duration(left)} (at ${new Date(endsAt).toISOString()})` : `ended at ${new Date(endsAt).toISOString()}`;
  return {
    profile,
    state: 'ends-soon',
    message: `The sign-in of profile "${profile}" ${when}: refreshTokenLifetime counted from the login at ${new Date(signedInAt).toISOString()}. Run: ${loginCommand(profile)}`,
    key: `ends-soon:${signedInAt}`,
  };
}

/** "23h59m", "14m", "40s". */
function duration(ms: number): string {
  if (ms < 60_000) return `${Math.ceil(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m`;
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  return `${Math.floor(ms / 3_600_000)}h${String(minutes).padStart(2, '0')}m`;
}
