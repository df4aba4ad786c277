/**
 * `npm run local-stack` (node dist/scripts/local-stack.js): a local stack
 * (testkit/local-stack.ts) until Ctrl-C, its profile and user printed as JSON, to point a
 * cognito-broker config at by hand.
 */
import { pathToFileURL } from 'node:url';
import { startLocalStack, type LocalStackOptions } from '../testkit/local-stack.js';

function parseArgs(argv: readonly string[]): LocalStackOptions {
  const options: LocalStackOptions = {};
  const numbers: Record<string, keyof LocalStackOptions> = {
    '--id-token-seconds': 'idTokenLifetimeSeconds',
    '--credential-seconds': 'credentialLifetimeSeconds',
    '--cognito-local-port': 'cognitoLocalPort',
    '--identity-port': 'identityPort',
    '--sts-port': 'stsPort',
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] ?? '';
    const value = argv[i + 1];
    const numeric = numbers[flag];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'Usage: node dist/scripts/local-stack.js [--region R] [--username U] [--id-token-seconds N]\n' +
          '         [--credential-seconds N] [--cognito-local-port P] [--identity-port P] [--sts-port P] [--new-password-user]\n' +
          '         [--user-pool-emulator]   also start the user-pool emulator (SRP, MFA, devices, rotation, managed login)\n',
      );
      process.exit(0);
    } else if (flag === '--new-password-user') {
      options.newPasswordUser = true;
    } else if (flag === '--user-pool-emulator') {
      options.userPoolEmulator = true;
    } else if (value === undefined) {
      throw new Error(`${flag} needs a value (see --help)`);
    } else if (flag === '--region') {
      options.region = value;
      i += 1;
    } else if (flag === '--username') {
      options.username = value;
      i += 1;
    } else if (numeric) {
      (options as Record<string, unknown>)[numeric] = Number(value);
      i += 1;
    } else {
      throw new Error(`Unknown option ${flag} (see --help)`);
    }
  }
  return options;
}

async function main(): Promise<void> {
  const stack = await startLocalStack(parseArgs(process.argv.slice(2)));
  const summary = {
    profile: stack.profile,
    user: { username: stack.username, password: stack.password },
    ...(stack.newPasswordUser ? { newPasswordUser: stack.newPasswordUser } : {}),
    issuer: stack.issuer,
    loginsKey: stack.loginsKey,
    stsUrl: stack.stsUrl,
    ...(stack.userPoolEmulator
      ? {
          userPoolEmulator: {
            profile: stack.userPoolEmulator.profile,
            user: { username: stack.userPoolEmulator.username, password: stack.userPoolEmulator.password },
            issuer: stack.userPoolEmulator.issuer,
          },
        }
      : {}),
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.stderr.write(`local stack up in ${stack.startupMs} ms; Ctrl-C stops it.\n`);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void stack.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
