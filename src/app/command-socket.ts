import { chmod, lstat, rm } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
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
 * CLI's own commands (daemon.json says so). Only this user can create a file there, so a
 * command that finds the socket its own (commandSocketOf, src/cli/announced-daemon.ts) knows
 * the listener is this user's daemon without asking the kernel's socket table; token and
 * credential-process then answer in one local round trip. Every route, check and
 * token stays the loopback listener's: the connections go to the same HTTP server.
 *
 * Undefined, with the CLI reaching the daemon over loopback TCP as before, where there is
 * none: on Windows, for a state directory whose path is too long for a socket, when something
 * else is at the path, or another daemon listens there.
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
  // Another serve with this state directory (another config) keeps its socket: the commands
  // of that daemon use it, and ours go over loopback TCP.
  const live = existing ? await connectCommandSocket(path) : undefined;
  live?.destroy();
  if (live) {
    logger.info({ path }, 'another daemon listens on this state directory\'s command socket: commands reach this one over loopback TCP');
    return undefined;
  }
  const server = createServer((connection) => http.emit('connection', connection));
  try {
    // A socket nothing listens on is a daemon's that died without removing it (kill -9).
    if (existing) await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Connecting needs write permission on the socket: this user's alone, whatever the umask.
    await chmod(path, 0o600);
    // A failed accept (EMFILE) costs one command the fast path, never the daemon.
    server.on('error', (error) => logger.warn({ path, err: error }, 'the command socket could not accept a connection'));
  } catch (error) {
    server.close();
    logger.warn({ path, err: error }, 'could not listen on the daemon\'s command socket: commands reach the daemon over loopback TCP');
    return undefined;
  }
  return { path, close: () => closeServer(server) };
}

/** A connection to the socket at `path`; undefined when nothing accepts there. */
export function connectCommandSocket(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    const failed = () => {
      socket.destroy();
      resolve(undefined);
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      socket.off('error', failed);
      resolve(socket);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
