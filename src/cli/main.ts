#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { isBrokerError } from '../errors.js';
import { env, ENV_HELP } from './env.js';
import { login, LOGIN_HELP } from './login.js';
import { serve, SERVE_HELP } from './serve.js';

const HELP = `cognito-broker: sign in to Amazon Cognito once, serve fresh AWS credentials and ID tokens on loopback.

Usage: cognito-broker <command> [options]

Commands:
  login    sign in to a profile's user pool; the refresh token goes to the OS keychain
  serve    run the broker: the container-credentials endpoint and /token on 127.0.0.1
  env      print the shell lines that point AWS SDKs at the running broker

Run 'cognito-broker <command> --help' for a command's options.
Config: --config PATH, else COGNITO_BROKER_CONFIG, else the platform's config dir
(Linux: $XDG_CONFIG_HOME/cognito-broker/config.json).`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  login: { run: login, help: LOGIN_HELP },
  serve: { run: serve, help: SERVE_HELP },
  env: { run: env, help: ENV_HELP },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`cognito-broker: unknown command "${name}".\n\n${HELP}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  await command.run(rest);
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Our errors print their message and code, nothing more: no stack traces for users. */
function report(error: unknown): number {
  if (isBrokerError(error)) {
    process.stderr.write(`cognito-broker: ${error.message} [${error.code}]\n`);
    return error.code === 'BRK_ERR_CONFIG_INVALID' || error.code === 'BRK_ERR_CONFIG_NOT_FOUND' ? 78 : 1;
  }
  const code = (error as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`cognito-broker: ${(error as Error).message}. See --help.\n`);
    return 2;
  }
  if ((error as Error).name === 'ExitPromptError') {
    process.stderr.write('cognito-broker: cancelled.\n');
    return 130;
  }
  process.stderr.write(`cognito-broker: unexpected error: ${(error as Error).name}: ${(error as Error).message}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => { process.exitCode = report(error); },
);
