import { requireBundle } from '../require-bundle.js';
import { isLoopbackHost, isLoopbackUrl, isSecureUrl } from './loopback.js';
import { partitionOf } from './partition.js';
import type * as ZodSubset from './zod-subset.cjs';
import type { RefinementCtx } from './zod-subset.cjs';

const z = requireBundle<typeof ZodSubset>(import.meta.url, './zod-subset.cjs');

// Formats as AWS documents them; checked at load so a typo fails at start, not at the
// first refresh hours later.
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const USER_POOL_ID = /^[\w-]+_[0-9a-zA-Z]+$/;
const IDENTITY_POOL_ID = /^[\w-]+:[0-9a-f-]+$/;
const ROLE_ARN = /^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/;
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CLIENT_ID = /^[\w+]{1,128}$/;
const HOST = /^[A-Za-z0-9.:%_-]{1,253}$/;
const NO_CONTROL_CHARACTERS = /^[^\p{Cc}]*$/u;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'an http:// or https:// URL');

/**
 * Where sign-in codes and tokens travel: https, or plain http only to this machine (local
 * emulators). A code or refresh token sent in clear over a network is as good as given away.
 */
const secureUrl = (what: string) =>
  z.string().refine((value) => isSecureUrl(value), `${what}: an https:// URL without query or fragment (http:// only for 127.0.0.1, ::1 or localhost)`);

// RFC 6749 section 3.3: a scope token is printable ASCII without space, '"' or '\'.
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;
const scopes = z
  .array(z.string().regex(SCOPE, 'an OAuth scope: printable characters, no spaces'))
  .min(1)
  .max(50)
  .refine((list) => list.includes('openid'), 'a list of scopes that includes "openid" (without it there is no ID token for the identity pool)');
// The exact URL must be registered with the provider, so the port is fixed (0 would pick a random one).
const redirectPort = z.number().int().min(1, 'a fixed TCP port, 1-65535 (the redirect URL registered with the provider names it)').max(65535);
const redirectPath = z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,200}$/, 'a URL path starting with "/", such as "/callback"');
const PARAMETER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A duration as a whole number and a unit: "30d", "12h", "90m", "45s". */
const DURATION = /^([1-9]\d{0,6})(s|m|h|d)$/;
const DURATION_UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Cognito allows refresh tokens of 60 minutes to 10 years; other providers set their own. */
const REFRESH_TOKEN_LIFETIME_MAX_MS = 3_660 * DURATION_UNIT_MS.d;

/** A duration in config ("30d") as milliseconds. */
export const durationMs = (what: string, maxMs: number) =>
  z
    .string()
    .regex(DURATION, `${what}: a whole number and a unit, s, m, h or d, such as "30d" or "12h"`)
    .transform((value) => {
      const [, count, unit] = DURATION.exec(value) as RegExpExecArray;
      return Number(count) * DURATION_UNIT_MS[unit as keyof typeof DURATION_UNIT_MS];
    })
    .refine((ms) => ms <= maxMs, `${what}: at most ${Math.round(maxMs / DURATION_UNIT_MS.d)} days`);

/** The user pool's managed login (hosted UI): `login --browser`. */
export const hostedUiSchema = z.strictObject({
  domain: secureUrl('the managed login domain, such as "https://my-prefix.auth.eu-west-1.amazoncognito.com"'),
  redirectPort,
  redirectPath: redirectPath.default('/callback'),
  scopes: scopes.default(['openid']),
  identityProvider: z.string().min(1).max(128).regex(NO_CONTROL_CHARACTERS, 'an identity provider name as the user pool lists it').optional(),
});

/** Another OpenID Connect provider in place of a user pool. */
export const oidcSchema = z.strictObject({
  issuer: secureUrl('the provider\'s issuer URL, exactly as its ID tokens\' "iss", such as "https://accounts.example.com"'),
  clientId: z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/, 'the OAuth client id the provider issued (printable, no spaces)'),
  redirectPort,
  redirectPath: redirectPath.default('/callback'),
  scopes: scopes.default(['openid', 'offline_access']),
  /** Extra query parameters for the authorization request, e.g. Google's access_type=offline. */
  authorizationParameters: z.record(z.string().regex(PARAMETER_NAME, 'a parameter name: letters, digits, "_", "-", "."'), z.string().max(1024)).optional(),
  /** For providers without a (correct) discovery document; each one set replaces discovery's. */
  endpoints: z
    .strictObject({
      authorization: secureUrl('the authorization endpoint').optional(),
      token: secureUrl('the token endpoint').optional(),
      revocation: secureUrl('the revocation endpoint').optional(),
    })
    .optional(),
  /** The identity pool's name for the provider; default: the issuer without "https://" and a final "/". */
  loginsKey: z.string().min(1).max(2048).regex(/^(?![A-Za-z][\w+.-]*:\/\/)[^\s/][^\s]*$/, 'the identity pool\'s provider name, without "https://", such as "accounts.example.com"').optional(),
});

/** The exit code a developer-identity command uses for "not signed in" unless the profile names another (EX_NOPERM of sysexits.h). */
export const DEVELOPER_NOT_SIGNED_IN_EXIT_CODE = 77;

/**
 * Sign-in by the organisation's own backend (developer-authenticated identities): a
 * command that prints {"IdentityId","Token"} from GetOpenIdTokenForDeveloperIdentity.
 */
export const developerIdentitySchema = z.strictObject({
  // argv, never a shell line: no quoting to get wrong, and nothing the shell could expand.
  command: z
    .array(z.string().min(1).max(4096).regex(NO_CONTROL_CHARACTERS, 'an argument without control characters'))
    .min(1, 'a program and its arguments, such as ["/usr/local/bin/get-cognito-token", "--json"]')
    .max(64),
  /** The exit code by which the command says "not signed in": the profile then needs `login`. */
  notSignedInExitCode: z.number().int().min(1, 'an exit code, 1-255').max(255).default(DEVELOPER_NOT_SIGNED_IN_EXIT_CODE),
  /** How long a run in the background (serve, exec) may take before it is killed and retried with backoff. */
  timeoutSeconds: z.number().int().min(1).max(600).default(60),
});

/** Where the basic (classic) flow's sts:AssumeRoleWithWebIdentity may last, in seconds (IAM's limits). */
const SESSION_DURATION = z.number().int().min(900, 'at least 900 seconds (15 minutes)').max(43_200, 'at most 43200 seconds (12 hours, and not more than the role allows)');
// IAM's RoleSessionName: 2-64 characters of [\w+=,.@-].
const ROLE_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

export const profileSchema = z
  .strictObject({
    region: z.string().regex(REGION, 'an AWS region such as "eu-west-1"'),
    userPoolId: z.string().regex(USER_POOL_ID, 'a user pool id such as "eu-west-1_AbCdEf123"').optional(),
    clientId: z.string().regex(CLIENT_ID, 'the app client id (letters and digits, at most 128)').optional(),
    identityPoolId: z.string().regex(IDENTITY_POOL_ID, 'an identity pool id such as "eu-west-1:1b2c…-uuid"'),
    username: z.string().min(1).max(128).regex(NO_CONTROL_CHARACTERS, 'a user name without control characters').optional(),
    customRoleArn: z.string().regex(ROLE_ARN, 'an IAM role ARN such as "arn:aws:iam::123456789012:role/Name"').optional(),
    hostedUi: hostedUiSchema.optional(),
    oidc: oidcSchema.optional(),
    /**
     * How long a sign-in lasts, counted from `login` (the app client's refresh token
     * expiration): the daemon says when it ends soon. Unknown (absent): never said.
     */
    refreshTokenLifetime: durationMs('the app client\'s refresh token expiration', REFRESH_TOKEN_LIFETIME_MAX_MS).optional(),
    developerIdentity: developerIdentitySchema.optional(),
    /** "enhanced" (absent): GetCredentialsForIdentity; "basic": GetOpenIdToken, then sts:AssumeRoleWithWebIdentity with customRoleArn. */
    flow: z.enum(['enhanced', 'basic']).optional(),
    roleSessionName: z.string().regex(ROLE_SESSION_NAME, 'a role session name: 2-64 letters, digits or "_+=,.@-"').optional(),
    sessionDurationSeconds: SESSION_DURATION.optional(),
    endpoints: z
      .strictObject({
        cognitoIdp: httpUrl.optional(),
        cognitoIdentity: httpUrl.optional(),
        /** STS, for the basic flow (default: the region's, amazonaws.com.cn in China). */
        sts: httpUrl.optional(),
        /** Plain http:// to a host that is not this machine: refresh and ID tokens in clear on the network. */
        allowInsecureHttp: z.boolean().optional(),
      })
      .superRefine((endpoints, ctx) => {
        if (endpoints.allowInsecureHttp) return;
        for (const key of ['cognitoIdp', 'cognitoIdentity', 'sts'] as const) {
          const value = endpoints[key];
          if (value !== undefined && URL.canParse(value) && new URL(value).protocol === 'http:' && !isLoopbackUrl(value)) {
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: 'an https:// URL, or http:// to this machine (127.0.0.1, ::1, localhost): refresh and ID tokens would cross the network in clear. To send them anyway (a trusted private network), set "allowInsecureHttp": true beside it',
            });
          }
        }
      })
      .optional(),
  })
  .superRefine((profile, ctx) => {
    checkFlow(profile, ctx);
    checkPartition(profile.region, profile.customRoleArn, ['customRoleArn'], ctx);
    if (profile.developerIdentity) {
      // The organisation's backend signs the user in: no user pool, no other provider.
      for (const key of ['userPoolId', 'clientId', 'hostedUi', 'username', 'oidc'] as const) {
        if (profile[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `no "${key}" in a profile with "developerIdentity" (its command signs the user in, not a user pool or provider)` });
      }
      if (profile.endpoints?.cognitoIdp !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['endpoints', 'cognitoIdp'], message: 'no "cognitoIdp" endpoint in a profile with "developerIdentity" (no user pool is called)' });
      }
      return;
    }
    if (profile.oidc) {
      // An OIDC profile has no user pool: a stray pool setting is a mistake, not a fallback.
      for (const key of ['userPoolId', 'clientId', 'hostedUi', 'username'] as const) {
        if (profile[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `no "${key}" in a profile with "oidc" (it signs in through that provider, not a user pool)` });
      }
      if (profile.endpoints?.cognitoIdp !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['endpoints', 'cognitoIdp'], message: 'no "cognitoIdp" endpoint in a profile with "oidc" (no user pool is called)' });
      }
      return;
    }
    // Same wording as a missing key elsewhere; the alternative is named.
    if (profile.userPoolId === undefined) ctx.addIssue({ code: 'custom', path: ['userPoolId'], message: 'a value (required string): the user pool id, such as "eu-west-1_AbCdEf123" (or an "oidc" section instead of a user pool)' });
    if (profile.clientId === undefined) ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'a value (required string): the user pool\'s app client id (or an "oidc" section instead of a user pool)' });
  });

/** A role in another partition than the region's is refused by Cognito and STS alike: said at load. */
function checkPartition(region: string | undefined, roleArn: string | undefined, path: (string | number)[], ctx: RefinementCtx): void {
  if (region === undefined || roleArn === undefined || !REGION.test(region)) return;
  const partition = partitionOf(region).name;
  const given = /^arn:([^:]+):/.exec(roleArn)?.[1];
  if (given !== undefined && given !== partition) {
    ctx.addIssue({ code: 'custom', path, message: `a role ARN of the region's partition: "arn:${partition}:iam::…" for ${region} (found "arn:${given}:")` });
  }
}

/** The basic flow needs the role to assume; its options mean nothing in the enhanced flow. */
function checkFlow(profile: { flow?: 'enhanced' | 'basic' | undefined; customRoleArn?: string | undefined; roleSessionName?: string | undefined; sessionDurationSeconds?: number | undefined }, ctx: RefinementCtx): void {
  if (profile.flow === 'basic') {
    if (profile.customRoleArn === undefined) ctx.addIssue({ code: 'custom', path: ['customRoleArn'], message: 'a value (required with "flow": "basic"): the IAM role sts:AssumeRoleWithWebIdentity takes, such as "arn:aws:iam::123456789012:role/Name"' });
    return;
  }
  for (const key of ['roleSessionName', 'sessionDurationSeconds'] as const) {
    if (profile[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `no "${key}" without "flow": "basic" (the enhanced flow's credentials last one hour, under a session name Cognito chooses)` });
  }
}

/**
 * A profile that uses another profile's sign-in (its keychain session and ID tokens) to
 * be served under another role, or from another identity pool, without signing in twice.
 * Everything about the user pool comes from that profile.
 */
export const borrowingProfileSchema = z
  .looseObject({
    signInFrom: z.string().regex(PROFILE_NAME, 'the name of another profile in "profiles", whose sign-in this profile uses'),
    customRoleArn: z.string().regex(ROLE_ARN, 'an IAM role ARN such as "arn:aws:iam::123456789012:role/Name"').optional(),
    identityPoolId: z.string().regex(IDENTITY_POOL_ID, 'an identity pool id such as "eu-west-1:1b2c…-uuid"').optional(),
  })
  .superRefine((profile, ctx) => {
    const known = new Set(['signInFrom', 'customRoleArn', 'identityPoolId']);
    const unknown: string[] = [];
    for (const key of Object.keys(profile)) {
      if (known.has(key)) continue;
      if (Object.hasOwn(profileSchema.shape, key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `no "${key}" in a profile with "signInFrom" (it signs in as profile "${profile.signInFrom}" and takes "${key}" from there; only "customRoleArn" and "identityPoolId" may differ)`,
        });
      } else unknown.push(key);
    }
    if (unknown.length > 0) ctx.addIssue({ code: 'unrecognized_keys', keys: unknown, path: [], message: 'unknown keys' });
  });

/** One entry of "profiles": a profile of its own, or (with "signInFrom") one borrowing another's sign-in. */
const profileEntrySchema = z.unknown().transform((value, ctx) => {
  const borrowing = typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, 'signInFrom');
  const result = borrowing ? borrowingProfileSchema.safeParse(value, { reportInput: true }) : profileSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ ...issue });
  return z.NEVER;
});

/**
 * Docker containers on this machine (docs/containers.md): a second listener on the address
 * containers reach the host at, which accepts container tokens only.
 */
export const containersSchema = z.strictObject({
  // The SDKs send a plain-http FULL_URI only to loopback, 169.254.170.2 (ECS) or
  // 169.254.170.23 (EKS); RELATIVE_URI always goes to 169.254.170.2:80.
  address: z.string().regex(IPV4, 'an IPv4 address such as "169.254.170.2" (the host\'s end of the cognito-broker Docker network)').default('169.254.170.2'),
  port: z.number().int().min(1, 'a fixed TCP port, 1-65535 (containers are given URLs that name it)').max(65535).optional(),
  relativeUri: z.boolean().default(true),
  relayPort: z.number().int().min(1, 'a fixed TCP port, 1-65535 (the relay container forwards to it)').max(65535).optional(),
});

/** The choices of "secretStore". */
export const SECRET_STORES = ['keychain', 'kernel', 'file'] as const;

const NOTIFY_ARGUMENT = z.string().min(1).max(4096).regex(NO_CONTROL_CHARACTERS, 'a non-empty string without control characters');

/** What the daemon does when a profile needs a login, or its sign-in ends soon (docs/notifications.md). */
export const notifySchema = z.strictObject({
  /** A program and its arguments, run directly (never through a shell). */
  command: z.array(NOTIFY_ARGUMENT).min(1, 'a program and its arguments, such as ["notify-me", "--urgent"] (an argv array, not a shell line)').max(64).optional(),
  /** A desktop notification (freedesktop Notifications on Linux, Notification Center on macOS). */
  desktop: z.boolean().default(true),
});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: z.string().regex(HOST, 'an IP address or host name such as "127.0.0.1"').default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(9911),
        tokenFile: z.string().min(1).max(4096).regex(NO_CONTROL_CHARACTERS, 'a file path').optional(),
        allowNonLoopback: z.boolean().default(false),
        containers: containersSchema.optional(),
      })
      .prefault({}),
    /** Where refresh tokens and other secrets are kept (docs/config.md, "secretStore"). */
    secretStore: z
      .enum(SECRET_STORES, { error: '"keychain" (the OS keychain), "kernel" (the Linux kernel keyring, kept until reboot) or "file" (a 0600 file under the state directory)' })
      .default('keychain'),
    defaultProfile: z.string().regex(PROFILE_NAME, 'a profile name: letters, digits, "_", "-", "." (at most 64)').optional(),
    notify: notifySchema.prefault({}),
    profiles: z
      .record(z.string().regex(PROFILE_NAME, 'profile names: letters, digits, "_", "-", "." (at most 64)'), profileEntrySchema)
      .refine((profiles) => Object.keys(profiles).length > 0, 'at least one profile'),
  })
  .superRefine((config, ctx) => {
    if (!isLoopbackHost(config.server.host) && !config.server.allowNonLoopback) {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'host'],
        message:
          'a loopback address ("127.0.0.1", "::1" or "localhost"): the endpoint serves AWS credentials and must not be reachable from the network (to serve other machines anyway, set "allowNonLoopback": true; read config.example.json first)',
      });
    }
    const names = Object.keys(config.profiles);
    const wanted = config.defaultProfile;
    if (wanted !== undefined && !names.includes(wanted)) {
      ctx.addIssue({ code: 'custom', path: ['defaultProfile'], message: `the name of a profile in "profiles" (${names.join(', ')})` });
    }
    for (const [name, profile] of Object.entries(config.profiles)) {
      if (!('signInFrom' in profile)) continue;
      const owner = Object.hasOwn(config.profiles, profile.signInFrom) ? config.profiles[profile.signInFrom] : undefined;
      const path = ['profiles', name, 'signInFrom'];
      if (profile.signInFrom === name) {
        ctx.addIssue({ code: 'custom', path, message: 'the name of another profile: a profile cannot use its own sign-in' });
      } else if (!owner) {
        ctx.addIssue({ code: 'custom', path, message: `the name of a profile in "profiles" (${names.filter((n) => n !== name).join(', ')})` });
      } else if ('signInFrom' in owner) {
        ctx.addIssue({ code: 'custom', path, message: `a profile that signs in itself: "${profile.signInFrom}" uses the sign-in of "${owner.signInFrom}" (name "${owner.signInFrom}" here)` });
      } else {
        checkPartition(owner.region, profile.customRoleArn, ['profiles', name, 'customRoleArn'], ctx);
      }
    }
  });
