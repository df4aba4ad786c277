import { loadConfig } from '../config/load-config.js';
import type { Config, ProfileConfig } from '../config/config.js';
import { UnknownProfileError } from '../errors.js';

/** --config and --profile: what every command that reads the config takes. */
export interface CommandOptions {
  readonly config?: string | undefined;
  readonly profile?: string | undefined;
}

export async function loadCliConfig(options: CommandOptions): Promise<Config> {
  return loadConfig({ flag: options.config });
}

export function pickProfile(config: Config, name: string | undefined): ProfileConfig {
  const chosen = name ?? config.defaultProfile;
  // hasOwn: "--profile toString" must not find Object.prototype.toString.
  const profile = Object.hasOwn(config.profiles, chosen) ? config.profiles[chosen] : undefined;
  if (!profile) throw new UnknownProfileError(chosen, Object.keys(config.profiles));
  return profile;
}

/**
 * The profile whose sign-in `login` and `logout` act on: a profile with "signInFrom" has no
 * session of its own, so they act on the profile it borrows from, and say so.
 */
export function pickSignInProfile(config: Config, name: string | undefined, say: (line: string) => void): ProfileConfig {
  const profile = pickProfile(config, name);
  if (!profile.signInFrom) return profile;
  say(`Profile "${profile.name}" uses the sign-in of profile "${profile.signInFrom.name}" ("signInFrom"): acting on "${profile.signInFrom.name}".\n`);
  return profile.signInFrom;
}
