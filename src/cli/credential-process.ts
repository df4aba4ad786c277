import { parseArgs } from 'node:util';
import type { CredentialsBody } from '../server/container-credentials.js';
import { freshCredentials } from './broker-read.js';
import { type CliIo, processIo } from './cli-io.js';

export const CREDENTIAL_PROCESS_HELP = `Usage: cognito-broker credential-process [--profile P] [--config PATH]

Prints the profile's AWS credentials in the credential_process format, for tools that read
only ~/.aws/config (the AWS CLI and every SDK do too):

  [profile work]
  credential_process = /usr/local/bin/cognito-broker credential-process --profile work

(no shell runs it: give an absolute path, as 'command -v cognito-broker' shows). It prints
  {"Version":1,"AccessKeyId":"...","SecretAccessKey":"...","SessionToken":"...","Expiration":"2026-...Z"}

With the daemon running (cognito-broker serve, or cognito-broker service install) this is
one local call, and Cognito is asked only when the daemon's credentials are due.
Without it, each run reads the keychain and asks Cognito itself (one call while the ID token
the last such run kept with the session is fresh, else two or three; a few hundred
milliseconds): the SDKs cache the answer until 15 minutes before it expires, but every new
process (each 'aws' command) asks again. Errors go to stderr with exit code 1. It never
asks anything, even at a terminal (its stderr is often not shown): a profile that is not
signed in, or must sign in again, fails at once, naming the login command to run.

  --profile P     profile from the config (default: the config's default profile)
  --config PATH   config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

/** https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sourcing-external.html */
export interface ProcessCredentials {
  readonly Version: 1;
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly SessionToken: string;
  readonly Expiration: string;
  readonly AccountId?: string;
}

export async function credentialProcess(argv: string[], io: CliIo = processIo): Promise<void> {
  const options = credentialProcessOptions(argv);
  io.stdout(processCredentialsLine(await freshCredentials(options, io)));
}

/** credential-process's options; the bin reads them too (bin.ts). */
export function credentialProcessOptions(argv: string[]): { profile?: string | undefined; config?: string | undefined } {
  return parseArgs({ args: argv, options: { profile: { type: 'string' }, config: { type: 'string' } }, strict: true }).values;
}

/** What credential-process prints: one line of JSON. */
export function processCredentialsLine(credentials: CredentialsBody): string {
  return `${JSON.stringify(toProcessCredentials(credentials))}\n`;
}

function toProcessCredentials(c: CredentialsBody): ProcessCredentials {
  return {
    Version: 1,
    AccessKeyId: c.AccessKeyId,
    SecretAccessKey: c.SecretAccessKey,
    SessionToken: c.Token,
    Expiration: c.Expiration,
    ...(c.AccountId ? { AccountId: c.AccountId } : {}),
  };
}
