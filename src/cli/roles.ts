import { parseArgs } from 'node:util';
import { readIdTokenClaims } from '../cognito/jwt-claims.js';
import type { Config, ProfileConfig } from '../config/config.js';
import { freshTokens } from './broker-read.js';
import { type CliIo, processIo } from './cli-io.js';
import { loadConfigAndProfile } from './daemon-client.js';

export const ROLES_HELP = `Usage: cognito-broker roles [--profile P] [--json] [--config PATH]

Lists the IAM roles the signed-in user may take, from the ID token: its cognito:roles
(one per user-pool group with a role), marking cognito:preferred_role (the group with the
lowest precedence, used when a profile names no role) and the role each profile of this
sign-in uses. A profile takes one with "customRoleArn"; to be served under several roles at
once with one sign-in, add a profile per role with "signInFrom" (docs/commands.md, roles).

Without --json, one line per role: the ARN, then "preferred" and "used by: PROFILES".
With --json: {"profile","user","roles":[{"arn","preferred","usedBy":[...]}],
"preferredRole","profileRole"}.

  --profile P     profile from the config (default: the config's default profile)
  --json          JSON instead of lines
  --config PATH   config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

export interface RoleListing {
  readonly profile: string;
  readonly user: string | null;
  readonly roles: readonly { readonly arn: string; readonly preferred: boolean; readonly usedBy: readonly string[] }[];
  readonly preferredRole: string | null;
  /** The role the profile asks for (customRoleArn), or null: the preferred role or the pool's rules. */
  readonly profileRole: string | null;
}

export async function roles(argv: string[], io: CliIo = processIo): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { profile: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const { config, profile } = await loadConfigAndProfile(values);
  const tokens = await freshTokens({ config: values.config, profile: profile.name }, io);
  const listing = listRoles(config, profile, readIdTokenClaims(tokens.IdToken));
  io.stdout(values.json ? `${JSON.stringify(listing)}\n` : formatRoles(listing));
}

/** The token's roles, with the profiles of the same sign-in that use each. */
export function listRoles(config: Config, profile: ProfileConfig, claims: Record<string, unknown>): RoleListing {
  const claimed = Array.isArray(claims['cognito:roles']) ? claims['cognito:roles'].filter((r): r is string => typeof r === 'string') : [];
  const preferred = typeof claims['cognito:preferred_role'] === 'string' ? claims['cognito:preferred_role'] : undefined;
  const owner = profile.signInFrom?.name ?? profile.name;
  const sameSignIn = Object.values(config.profiles).filter((p) => (p.signInFrom?.name ?? p.name) === owner);
  const roleOf = (p: ProfileConfig): string | undefined => p.customRoleArn ?? preferred;
  const arns = [...new Set([...claimed, ...(preferred ? [preferred] : [])])];
  const user = typeof claims['cognito:username'] === 'string' ? claims['cognito:username'] : typeof claims.sub === 'string' ? claims.sub : null;
  return {
    profile: profile.name,
    user,
    roles: arns.map((arn) => ({ arn, preferred: arn === preferred, usedBy: sameSignIn.filter((p) => roleOf(p) === arn).map((p) => p.name) })),
    preferredRole: preferred ?? null,
    profileRole: profile.customRoleArn ?? null,
  };
}

export function formatRoles(listing: RoleListing): string {
  const lines: string[] = [];
  if (listing.roles.length === 0) {
    lines.push(`The ID token of profile "${listing.profile}" names no roles (no cognito:roles): the user is in no group with a role, so the identity pool's own rules choose it.`);
  }
  const width = Math.max(0, ...listing.roles.map((r) => r.arn.length));
  for (const role of listing.roles) {
    const notes = [role.preferred ? 'preferred' : '', role.usedBy.length > 0 ? `used by: ${role.usedBy.join(', ')}` : ''].filter(Boolean);
    lines.push(notes.length > 0 ? `${role.arn.padEnd(width)}  ${notes.join('; ')}` : role.arn);
  }
  if (listing.profileRole !== null && !listing.roles.some((r) => r.arn === listing.profileRole)) {
    lines.push(`Profile "${listing.profile}" asks for ${listing.profileRole} (customRoleArn), which is not one of the user's roles: the identity pool refuses it.`);
  }
  return `${lines.join('\n')}\n`;
}
