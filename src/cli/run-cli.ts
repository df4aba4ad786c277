import { isBrokerError, UsageError } from '../errors.js';
import { type CliIo, processIo } from './cli-io.js';
import { packageVersion } from './package-root.js';

const HELP = `cognito-broker: sign in to Amazon Cognito once, serve fresh AWS credentials and ID tokens on loopback.

Usage: cognito-broker <command> [options]

Commands:
  init     write the config: asks for (or takes as flags) the user pool, app client and
           identity pool, and checks them with Cognito
  login    sign in to a profile's user pool; the refresh token goes to the secret store
  serve    run the broker: the container-credentials endpoint and /token on 127.0.0.1
  env      print the shell lines that point AWS SDKs at the running broker (one profile's token)
  logout   revoke a profile's refresh token and delete its keychain entries
  exec     run a command with the broker's credentials (-- COMMAND ARGS...)
  credential-process
           print credentials for credential_process in ~/.aws/config
  service  install, uninstall or check the background service (systemd, launchd)
  status   each profile's state, user, expiries, last refresh and errors (daemon or keychain)
  token    print a fresh ID token (--access: access token) for curl -H "Authorization: $(...)"
  roles    list the IAM roles the signed-in user may take (cognito:roles)
  request  send an HTTP request signed with SigV4 (or with the ID token), like curl
  rotate-token
           replace the endpoint's master token; every token derived from it stops working
  docker   give Docker containers on this machine the broker's credentials (setup, env, run, ls, revoke)

Start with 'cognito-broker init', then 'cognito-broker login' and 'cognito-broker serve'.
Run 'cognito-broker <command> --help' for a command's options.
Config: --config PATH, else COGNITO_BROKER_CONFIG, else the platform's config dir
(Linux: $XDG_CONFIG_HOME/cognito-broker/config.json).`;

/** Exit codes (docs/commands.md). */
export const EXIT = { ok: 0, error: 1, usage: 2, config: 78, cancelled: 130 } as const;

interface Command {
  /** A number is the exit code to give (exec passes its command's on). */
  run(argv: string[], io: CliIo): Promise<void | number>;
  readonly help: string;
}

// Loaded on use: `env` runs in every new shell (eval "$(cognito-broker env)") and need not
// load fastify and the AWS SDK that `serve` and `login` do.
const COMMANDS: Record<string, (argv: readonly string[]) => Promise<Command>> = {
  init: async () => import('./init.js').then((m) => ({ run: m.init, help: m.INIT_HELP })),
  login: async () => import('./login.js').then((m) => ({ run: m.login, help: m.LOGIN_HELP })),
  serve: async () => import('./serve.js').then((m) => ({ run: m.serve, help: m.SERVE_HELP })),
  env: async () => import('./env.js').then((m) => ({ run: m.env, help: m.ENV_HELP })),
  logout: async () => import('./logout.js').then((m) => ({ run: m.logout, help: m.LOGOUT_HELP })),
  exec: async () => import('./exec.js').then((m) => ({ run: m.exec, help: m.EXEC_HELP })),
  'credential-process': async () => import('./credential-process.js').then((m) => ({ run: m.credentialProcess, help: m.CREDENTIAL_PROCESS_HELP })),
  service: async () => import('./service.js').then((m) => ({ run: m.service, help: m.SERVICE_HELP })),
  // --prompt runs in every shell prompt: a module of its own that loads nothing else.
  status: async (argv) =>
    argv.includes('--prompt')
      ? import('./status-prompt.js').then((m) => ({ run: m.statusPrompt, help: m.STATUS_PROMPT_HELP }))
      : import('./status.js').then((m) => ({ run: (args: string[], io: CliIo) => m.status(args, io), help: m.STATUS_HELP })),
  token: async () => import('./token.js').then((m) => ({ run: m.token, help: m.TOKEN_HELP })),
  roles: async () => import('./roles.js').then((m) => ({ run: m.roles, help: m.ROLES_HELP })),
  request: async () => import('./request.js').then((m) => ({ run: m.request, help: m.REQUEST_HELP })),
  'rotate-token': async () => import('./rotate-token.js').then((m) => ({ run: m.rotateToken, help: m.ROTATE_TOKEN_HELP })),
  docker: async () => import('./docker.js').then((m) => ({ run: m.dockerCommand, help: m.DOCKER_HELP })),
};

/**
 * The whole CLI as a function: parses argv, runs the command, reports any error as one
 * message with its code (never a stack trace) and resolves with the exit code. Never rejects.
 * The CLI's bundle (main.ts) only calls this; tests call it in-process.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    return await dispatch([...argv], io);
  } catch (error) {
    return report(error, io);
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(`${HELP}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    io.stderr(`cognito-broker: unknown command ${JSON.stringify(name)}.\n\n${HELP}\n`);
    return EXIT.usage;
  }
  // Only our own options: in `exec -- aws --help`, --help is the command's.
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  const command = await load(own);
  if (own.includes('--help') || own.includes('-h')) {
    io.stdout(`${command.help}\n`);
    return EXIT.ok;
  }
  return (await command.run(rest, io)) ?? EXIT.ok;
}

/** Our errors print their message and code, nothing more: no stack traces for users. */
function report(error: unknown, io: CliIo): number {
  if (error instanceof UsageError) {
    io.stderr(`cognito-broker: ${error.message}. See --help.\n`);
    return EXIT.usage;
  }
  if (isBrokerError(error)) {
    io.stderr(`cognito-broker: ${error.message} [${error.code}]\n`);
    return error.code === 'BRK_ERR_CONFIG_INVALID' || error.code === 'BRK_ERR_CONFIG_NOT_FOUND' ? EXIT.config : EXIT.error;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    io.stderr(`cognito-broker: ${(error as Error).message}. See --help.\n`);
    return EXIT.usage;
  }
  if ((error as Error | null)?.name === 'ExitPromptError') {
    io.stderr('cognito-broker: cancelled.\n');
    return EXIT.cancelled;
  }
  const { name, message } = (error ?? {}) as Partial<Error>;
  io.stderr(`cognito-broker: unexpected error: ${name ?? typeof error}: ${message ?? String(error)} [BRK_ERR_INTERNAL]\n`);
  return EXIT.error;
}
