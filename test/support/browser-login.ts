/**
 * Helpers for the browser sign-in tests: a config with a hostedUi or oidc profile, the
 * cognito-local app client allowed to use the code flow, and `login --browser --no-browser`
 * driven through a form-filling "browser".
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { CognitoIdentityProviderClient, UpdateUserPoolClientCommand } from '@aws-sdk/client-cognito-identity-provider';
import type { LocalStack } from '../../testkit/local-stack.js';
import type { BrokerEnv } from './broker-env.js';
import { type CliResult, spawnCli } from './cli.js';
import { type BrowserVisit, signInWithForm, startUrlFrom } from './fake-browser.js';

/** cognito-local's app client gets the code flow and our exact callback URL, as an admin would set them. */
export async function allowCodeFlow(stack: LocalStack, redirectUri: string): Promise<void> {
  const admin = new CognitoIdentityProviderClient({ region: stack.region, endpoint: stack.cognitoIdpUrl, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  try {
    await admin.send(new UpdateUserPoolClientCommand({
      UserPoolId: stack.userPoolId,
      ClientId: stack.clientId,
      CallbackURLs: [redirectUri],
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthScopes: ['openid', 'email', 'profile'],
    }));
  } finally {
    admin.destroy();
  }
}

/** Rewrites the broker env's config with these profiles (the first one is the default). */
export function writeProfiles(be: BrokerEnv, profiles: Record<string, unknown>): void {
  writeFileSync(be.configFile, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, profiles }, null, 2));
}

export interface BrowserLogin {
  readonly result: CliResult;
  readonly visit?: BrowserVisit | undefined;
  /** The one-time start URL login printed. */
  readonly startUrl: string;
  /** The authorization URL the start URL redirected to ('' when `drive` did not say). */
  readonly url: string;
}

/**
 * Runs `login --browser --no-browser ...args`, reads the start URL it prints, and lets
 * `drive` play the browser (by default: fill in the form as `username`).
 */
export async function browserLogin(
  be: BrokerEnv,
  args: readonly string[],
  user: { username: string; password: string },
  drive?: (url: string) => Promise<BrowserVisit | undefined>,
): Promise<BrowserLogin> {
  const child = spawnCli(['login', '--browser', '--no-browser', ...args], be.env);
  child.stdin?.end();
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = once(child, 'exit');
  const { url: startUrl, stderr } = await startUrlFrom(child);
  const visit = await (drive ? drive(startUrl) : signInWithForm(startUrl, user.username, user.password));
  const [code] = (await exited) as [number | null];
  return { result: { code, stdout, stderr: stderr() }, visit, startUrl, url: visit?.authorizationUrl ?? '' };
}
