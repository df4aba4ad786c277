import type { AddressInfo } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { ForbiddenRequestError } from '../errors.js';

// Headers only a browser sends. No SDK or CLI sends them, and a web page that reaches
// loopback (a form, an <img>, fetch from a page) does. Not Sec-Fetch-Mode: Node's own
// fetch() sends "Sec-Fetch-Mode: cors" on every request, and scripts use it for /token.
const BROWSER_HEADERS = ['origin', 'referer', 'sec-fetch-site', 'sec-fetch-dest', 'sec-fetch-user'] as const;
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Refuses what a hostile web page could send to loopback: a Host that is not ours (DNS
 * rebinding points evil.example at 127.0.0.1 but the browser still sends its own name)
 * and any request carrying browser markers.
 */
export function createRequestGuard(address: () => AddressInfo | string | null): (request: FastifyRequest) => void {
  return (request) => {
    const marker = BROWSER_HEADERS.find((name) => request.headers[name] !== undefined);
    if (marker) throw new ForbiddenRequestError(`browser requests are not served (${marker} header present)`);
    if (!isOurHost(request.headers.host, address())) throw new ForbiddenRequestError('the Host header does not name this loopback endpoint');
  };
}

function isOurHost(host: string | undefined, address: AddressInfo | string | null): boolean {
  if (!host) return false;
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.toLowerCase());
  if (!match) return false;
  const [, name, port] = match;
  const ourName = typeof address === 'object' && address !== null ? address.address : undefined;
  if (!LOOPBACK_NAMES.includes(name as string) && !(ourName && (name === ourName || name === `[${ourName}]`))) return false;
  // Before listen() (tests with inject) there is no port to compare.
  if (typeof address !== 'object' || address === null) return true;
  return port !== undefined && Number(port) === address.port;
}
