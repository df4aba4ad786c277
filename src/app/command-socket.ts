import { chmod, lstat, rm } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import type { Logger } from 'pino';

/**
 * The longest socket path both Linux (sun_path: 108 bytes) and macOS (104) take, the
 * terminating NUL left out.
 */
const MAX_SOCKET_PATH_BYTES = 103;

/** The daemon's Unix socket for this user's own commands. */
export interface CommandSocket {
  readonly path: string;
  /** Stops listening; the socket file goes with it. */
  close(): Promise<void>;
}

/**
 * Serves the daemon's HTTP app on a Unix socket in its 0700 state directory as well, for the
 * CLI's own commands (daemon.json names it). Only this user can create a file there, so a
 * command that finds the socket its own (src/store/private-paths.ts, isOwnSocket) knows the
 * listener is this user's daemon without asking the kernel's socket table or for a proof;
 * token and credential-process then answer in one local round trip. Every route, check and
 * token stays the loopback listener's: the connections go to the same HTTP server.
 *
 * Undefined, with the CLI reaching the daemon over loopback TCP as before, where there is
 * none: on Windows, for a state directory whose path is too long for a socket, or when
 * something else is at the path.
 */
export async function openCommandSocket(path: string, http: HttpServer, logger: Logger, platform: NodeJS.Platform = process.platform): Promise<CommandSocket | undefined> {
  if (platform === 'win32') return undefined;
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    logger.info({ path }, 'the state directory\'s path is too long for a Unix socket: commands reach the daemon over loopback TCP');
    return undefined;
  }
  const existing = await lstat(path).catch(() => undefined);
  if (existing && !existing.isSocket()) {
    logger.warn({ path }, 'something that is not a socket is where the daemon\'s command socket goes: commands reach the daemon over loopback TCP');
    return undefined;
  }
  // A socket left there is a daemon's that died without removing it (its pid's daemon.json is replaced too).
  if (existing) await rm(path, { force: true });
  const server = createServer((connection) => http.emit('connection', connection));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Connecting needs write permission on the socket: this user's alone, whatever the umask.
    await chmod(path, 0o600);
  } catch (error) {
    server.close();
    logger.warn({ path, err: error }, 'could not listen on the daemon\'s command socket: commands reach the daemon over loopback TCP');
    return undefined;
  }
  return { path, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
