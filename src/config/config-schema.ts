import { z } from 'zod';

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

const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'an http:// or https:// URL');

export const profileSchema = z.strictObject({
  region: z.string().regex(REGION, 'an AWS region such as "eu-west-1"'),
  userPoolId: z.string().regex(USER_POOL_ID, 'a user pool id such as "eu-west-1_AbCdEf123"'),
  clientId: z.string().regex(CLIENT_ID, 'the app client id (letters and digits, at most 128)'),
  identityPoolId: z.string().regex(IDENTITY_POOL_ID, 'an identity pool id such as "eu-west-1:1b2c…-uuid"'),
  username: z.string().min(1).max(128).regex(NO_CONTROL_CHARACTERS, 'a user name without control characters').optional(),
  customRoleArn: z.string().regex(ROLE_ARN, 'an IAM role ARN such as "arn:aws:iam::123456789012:role/Name"').optional(),
  endpoints: z
    .strictObject({
      cognitoIdp: httpUrl.optional(),
      cognitoIdentity: httpUrl.optional(),
    })
    .optional(),
});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: z.string().regex(HOST, 'an IP address or host name such as "127.0.0.1"').default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(9911),
        tokenFile: z.string().min(1).max(4096).regex(NO_CONTROL_CHARACTERS, 'a file path').optional(),
        allowNonLoopback: z.boolean().default(false),
      })
      .prefault({}),
    defaultProfile: z.string().regex(PROFILE_NAME, 'a profile name: letters, digits, "_", "-", "." (at most 64)').optional(),
    profiles: z
      .record(z.string().regex(PROFILE_NAME, 'profile names: letters, digits, "_", "-", "." (at most 64)'), profileSchema)
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
  });

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const LOOPBACK_IPV4 = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || LOOPBACK_IPV4.test(host);
}
