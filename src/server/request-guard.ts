import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { FastifyRequest } from 'fastify';
import { BadRequestError, ForbiddenRequestError } from '../errors.js';

// Headers only a browser sends. No SDK or CLI sends them, and a web page that reaches
// loopback (a form, an <img>, fetch from a page) does. Not Sec-Fetch-Mode: Node's own
// fetch() sends "Sec-Fetch-Mode: cors" on every request, and scripts use it for /token.
const BROWSER_HEADERS = ['origin', 'referer', 'sec-fetch-site', 'sec-fetch-dest', 'sec-fetch-user'] as const;
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

/**
 * Refuses what a hostile web page could send to loopback: a Host that is not ours (DNS
 * rebinding points evil.example at 127.0.0.1 but the browser still sends its own name)
 * and any request carrying browser markers.
 *
 * `configuredHost` is server.host: with server.allowNonLoopback it may name another
 * address, which Host may then carry too (for 0.0.0.0 or ::, any address of this machine).
 * `exactHosts`, for the container listener: the only Host values accepted ("169.254.170.2:9911"),
 * loopback names included in none of them.
 */
export function createRequestGuard(address: () => AddressInfo | string | null, configuredHost?: string, exactHosts?: readonly string[]): (request: FastifyRequest) => void {
  const extraNames = configuredHost === undefined ? [] : hostNamesFor(configuredHost);
  const exact = exactHosts === undefined ? undefined : new Set(exactHosts.map((h) => h.toLowerCase()));
  // Asked once: server.address() is a getsockname() system call, ~5% of a request's CPU
  // when made per request, and the address does not change once the server listens.
  let bound: AddressInfo | string | null = null;
  // Every client sends the same Host again and again: the last one found ours is not parsed
  // again (it is compared only once the port is known, so never before listen()).
  let lastOurHost: string | undefined;
  return (request) => {
    bound ??= address();
    const { headers } = request;
    for (const name of BROWSER_HEADERS) {
      if (headers[name] !== undefined) throw new ForbiddenRequestError(`browser requests are not served (${name} header present)`);
    }
    // Node keeps the first of duplicated Host and Authorization headers and drops the rest
    // silently; two of them mean a confused proxy or a smuggling attempt, never an SDK.
    const duplicate = duplicatedHeader(request.raw.rawHeaders);
    if (duplicate) throw new BadRequestError(`Bad request: more than one ${duplicate} header`);
    const host = headers.host;
    if (host !== undefined && host === lastOurHost) return;
    if (exact) {
      if (host === undefined || !exact.has(host.toLowerCase())) throw new ForbiddenRequestError('the Host header does not name this container endpoint');
      lastOurHost = host;
      return;
    }
    if (!isOurHost(host, bound, extraNames)) throw new ForbiddenRequestError('the Host header does not name this loopback endpoint');
    if (typeof bound === 'object' && bound !== null) lastOurHost = host;
  };
}

function duplicatedHeader(raw: readonly string[]): string | undefined {
  let hosts = 0;
  let authorizations = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // Lower-cased only when the length matches: most of an SDK's headers are neither.
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) return 'Host';
    if (name.length === 13 && name.toLowerCase() === 'authorization' && ++authorizations > 1) return 'Authorization';
  }
  return undefined;
}

/** The names a Host header may carry for a non-loopback server.host, lower case, IPv6 in brackets. */
export function hostNamesFor(host: string): string[] {
  const hosts = WILDCARD_HOSTS.has(host)
    ? Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address))
    : [host];
  return hosts.map((h) => (h.includes(':') && !h.startsWith('[') ? `[${h}]` : h).toLowerCase());
}

function isOurHost(host: string | undefined, address: AddressInfo | string | null, extraNames: readonly string[]): boolean {
  if (!host) return false;
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.toLowerCase());
  if (!match) return false;
  const [, name, port] = match as unknown as [string, string, string | undefined];
  const ourName = typeof address === 'object' && address !== null ? address.address : undefined;
  const known = LOOPBACK_NAMES.includes(name) || extraNames.includes(name) || (ourName !== undefined && (name === ourName || name === `[${ourName}]`));
  if (!known) return false;
  // Before listen() (tests with inject) there is no port to compare.
  if (typeof address !== 'object' || address === null) return true;
  return port !== undefined && Number(port) === address.port;
}
