import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's awscli package: AWS CLI 2.9, the older behaviour (token from the env only). */
export const DEBIAN_AWS_CLI = '/usr/bin/aws';

export interface ClientEnv {
  readonly env: NodeJS.ProcessEnv;
  readonly region: string;
  readonly stsUrl: string;
}

export interface ClientReport {
  readonly accessKeyId: string;
  readonly arn?: string;
  readonly method?: string;
  readonly expiration?: string;
}

/** The environment a user's tool sees: only what `eval "$(cognito-broker env)"` set. */
export function clientEnv(base: NodeJS.ProcessEnv, exports: Readonly<Record<string, string>>, keep: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: base.PATH, HOME: base.HOME, PYENV_ROOT: process.env.PYENV_ROOT ?? join(homedir(), '.pyenv') };
  for (const name of keep) env[name] = exports[name];
  return env;
}

const JS_CLIENT = `
import { fromContainerMetadata, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
const provider = process.env.PROVIDER === 'container-metadata' ? fromContainerMetadata() : fromNodeProviderChain();
const credentials = await provider();
const sts = new STSClient({ region: process.env.REGION, endpoint: process.env.STS_URL, credentials: provider, maxAttempts: 1 });
const { Arn } = await sts.send(new GetCallerIdentityCommand({}));
console.log(JSON.stringify({ accessKeyId: credentials.accessKeyId, expiration: credentials.expiration?.toISOString(), arn: Arn }));
`;

/** The AWS SDK for JavaScript v3: fetches credentials, then makes a signed STS call with them. */
export async function jsSdkClient(c: ClientEnv, provider: 'container-metadata' | 'default-chain'): Promise<ClientReport> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', JS_CLIENT], {
    cwd: REPO,
    env: { ...c.env, PROVIDER: provider, REGION: c.region, STS_URL: c.stsUrl, NODE_NO_WARNINGS: '1' },
  });
  return JSON.parse(stdout) as ClientReport;
}

const BOTO3_CLIENT = `
import boto3, json, os
session = boto3.Session(region_name=os.environ['REGION'])
credentials = session.get_credentials()
frozen = credentials.get_frozen_credentials()
arn = session.client('sts', endpoint_url=os.environ['STS_URL']).get_caller_identity()['Arn']
print(json.dumps({'accessKeyId': frozen.access_key, 'method': credentials.method, 'arn': arn}))
`;
import { REPO } from './paths.js';

export async function boto3Client(c: ClientEnv): Promise<ClientReport> {
  const { stdout } = await run('python3', ['-c', BOTO3_CLIENT], { env: { ...c.env, REGION: c.region, STS_URL: c.stsUrl } });
  return JSON.parse(stdout) as ClientReport;
}

/** The preinstalled AWS CLI v1: what `aws configure list` says, and a signed STS call. */
export async function awsCliV1(c: ClientEnv): Promise<{ configureList: string; arn: string }> {
  const env = { ...c.env, AWS_DEFAULT_REGION: c.region };
  const { stdout: configureList } = await run('aws', ['configure', 'list'], { env });
  const { stdout } = await run('aws', ['sts', 'get-caller-identity', '--endpoint-url', c.stsUrl, '--output', 'json'], { env });
  return { configureList, arn: (JSON.parse(stdout) as { Arn: string }).Arn };
}

export function hasDebianAwsCli(): boolean {
  return existsSync(DEBIAN_AWS_CLI);
}

/** Debian's AWS CLI 2.9: `aws configure export-credentials`. */
export async function awsCliV2ExportCredentials(c: ClientEnv): Promise<ClientReport & { Version: number }> {
  const { stdout } = await run(DEBIAN_AWS_CLI, ['configure', 'export-credentials', '--format', 'process'], {
    env: { ...c.env, AWS_DEFAULT_REGION: c.region },
  });
  const parsed = JSON.parse(stdout) as { Version: number; AccessKeyId: string; Expiration?: string };
  return { Version: parsed.Version, accessKeyId: parsed.AccessKeyId, expiration: parsed.Expiration };
}
