import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { deriveProfileToken } from '../server/endpoint-auth.js';
import { listScopedTokenFiles, rotateMasterToken, TOKEN_FILE_POLL_MS, writeTokenFile } from '../store/endpoint-token-file.js';
import { loadCliConfig } from './cli-context.js';
import { type CliIo, processIo } from './cli-io.js';
import { findDaemon } from './daemon-client.js';
import { securePrivatePaths } from '../store/private-paths.js';

export const ROTATE_TOKEN_HELP = `Usage: cognito-broker rotate-token [--config PATH]

Replaces the endpoint's master token (server.tokenFile) with a new random one. Every token
derived from the old one stops working: the profile tokens that 'env' and 'serve' printed,
in every shell and tool that holds them. Their token files are rewritten, so SDKs that read
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE carry on; shells that hold the value run
eval "$(cognito-broker env)" again. A running daemon takes the new token up within seconds,
without a restart; 'exec' children keep their own tokens until they end.

Use it when the token may have been seen by someone else: another user held the daemon's
port while it was down (SDKs send their token to whatever listens there), a token file or
a shell's environment was copied somewhere, or on a schedule.

  --config PATH   config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

/** How long rotate-token waits to see the running daemon take the new token up. */
const PICKUP_WAIT_MS = 3 * TOKEN_FILE_POLL_MS;

export async function rotateToken(argv: string[], io: CliIo = processIo): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } }, strict: true });
  const config = await loadCliConfig(values);
  await securePrivatePaths({ stateDir: config.stateDir, tokenFile: config.server.tokenFile });
  const before = await findDaemon(config);
  before.daemon?.close();
  const master = await rotateMasterToken(config.server.tokenFile);
  const scoped = await listScopedTokenFiles(config.stateDir);
  for (const { file, profile, idToken } of scoped) await writeTokenFile(file, deriveProfileToken(master, profile, idToken));
  io.stderr(`Rotated the endpoint token in ${config.server.tokenFile}; rewrote ${scoped.length} profile token ${scoped.length === 1 ? 'file' : 'files'}. Tokens derived from the old one no longer open anything: run eval "$(cognito-broker env)" again in open shells.\n`);
  if (!before.daemon) return;
  const deadline = Date.now() + PICKUP_WAIT_MS;
  for (;;) {
    const after = await findDaemon(config);
    after.daemon?.close();
    if (after.daemon) {
      io.stderr(`The running daemon (pid ${after.daemon.info.pid}) took the new token up.\n`);
      return;
    }
    if (Date.now() > deadline) {
      io.stderr(`The running daemon (pid ${before.daemon.info.pid}) has not taken the new token up yet (${after.problem.message}); it looks at the file every ${TOKEN_FILE_POLL_MS / 1000} s, or restart it.\n`);
      return;
    }
    await sleep(TOKEN_FILE_POLL_MS / 4);
  }
}
