import { parseArgs } from 'node:util';
import { freshTokens, type TokenBody } from './broker-read.js';
import { type CliIo, processIo } from './cli-io.js';

export const TOKEN_HELP = `Usage: cognito-broker token [--profile P] [--access] [--config PATH]

Prints a fresh ID token (with --access, the access token) and nothing else, with one
trailing newline, which $(...) strips:

  curl -H "Authorization: $(cognito-broker token)" https://api.example.com/

The token has at least 5 minutes left (a quarter of its lifetime for short-lived ones).
With the daemon running (cognito-broker serve) this is one local call; without it,
the keychain and Cognito are asked in this process (a rotated refresh token is written
back to the keychain, as the daemon does). Errors go to stderr with exit code 1.

  --profile P     profile from the config (default: the config's default profile)
  --access        the access token instead (for APIs that check OAuth scopes)
  --config PATH   config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

export async function token(argv: string[], io: CliIo = processIo): Promise<void> {
  const options = tokenOptions(argv);
  io.stdout(tokenLine(options, await freshTokens(options, io)));
}

/** token's options; the bin reads them too (bin.ts). */
export function tokenOptions(argv: string[]): { profile?: string | undefined; config?: string | undefined; access: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: { profile: { type: 'string' }, config: { type: 'string' }, access: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  return values;
}

/** What token prints. */
export function tokenLine(options: { access: boolean }, tokens: TokenBody): string {
  return `${options.access ? tokens.AccessToken : tokens.IdToken}\n`;
}
