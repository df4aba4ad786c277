import { lookup } from 'node:dns/promises';
import type { FastifyInstance } from 'fastify';

/**
 * The addresses to bind for server.host: each one "localhost" resolves to (IPv4 first, as
 * clients that try both usually start there), else the host as given. Binding every one
 * matters: a client may resolve the name to any of them, and an address left free is one
 * another user can take.
 */
export async function listenAddresses(host: string): Promise<string[]> {
  if (host !== 'localhost') return [host];
  const found = await lookup(host, { all: true, order: 'ipv4first' });
  return [...new Set(found.map((a) => a.address))];
}

/** Readies the app and binds its server; rejects with the listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
export async function listenOn(app: FastifyInstance, where: { host: string; port: number } | { fd: number }): Promise<void> {
  await app.ready();
  await new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen(where, () => {
      app.server.off('error', reject);
      resolve();
    });
  });
}
