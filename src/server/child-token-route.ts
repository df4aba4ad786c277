import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Broker } from '../broker/broker.js';
import { BadRequestError, ContainersNotConfiguredError } from '../errors.js';
import { type EndpointAuth, TOKEN_PATTERN } from './endpoint-auth.js';
import { requireScope } from './require-scope.js';

/** What `exec` sends: the child's token (random, its own), for one profile. */
interface ChildTokenRequest {
  readonly profile: string;
  readonly token: string;
  readonly idToken: boolean;
  /** `docker run`: a container token (the container listener only), in Authorization or (`inPath`) as the RELATIVE_URI path. */
  readonly container: boolean;
  readonly inPath: boolean;
}

/**
 * POST /child-tokens (master token only): opens a token of the caller's choosing to one
 * profile for as long as this request's connection stays open. The answer is one line of
 * JSON, then the response stays open; when the connection closes (the caller ended, or was
 * killed: the kernel closes its sockets) the token stops working. `exec` holds one for its
 * child's lifetime, so the child's token dies with it, however it ends.
 */
export function registerChildTokenRoute(app: FastifyInstance, broker: Broker, auth: EndpointAuth, containers = false): void {
  const open = new Set<ServerResponse>();
  app.post('/child-tokens', (request, reply) => {
    requireScope(request, { what: 'master' });
    const { profile, token, idToken, container, inPath } = parseChildTokenRequest(request.body);
    // An unknown profile is the usual 404.
    broker.session(profile);
    if (container && !containers) throw new ContainersNotConfiguredError();
    const end = auth.registerChild(token, container ? { kind: 'container', profile, idToken, inPath } : { profile, idToken });
    reply.hijack();
    const response = reply.raw;
    open.add(response);
    response.once('close', () => {
      end();
      open.delete(response);
    });
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.write(`${JSON.stringify({ Profile: profile, IdToken: idToken })}\n`);
  });
  // A closing server ends them, so its close() does not wait on connections that never end;
  // the callers see the end and register again with the next daemon.
  app.addHook('preClose', (done) => {
    for (const response of open) response.end();
    done();
  });
}

function parseChildTokenRequest(body: unknown): ChildTokenRequest {
  const b = (body ?? {}) as Partial<Record<keyof ChildTokenRequest, unknown>>;
  const flag = (value: unknown) => value === undefined || typeof value === 'boolean';
  if (typeof b.profile !== 'string' || typeof b.token !== 'string' || !TOKEN_PATTERN.test(b.token) || !flag(b.idToken) || !flag(b.container) || !flag(b.inPath) ||
    (b.inPath === true && b.container !== true)) {
    throw new BadRequestError('Bad request: POST /child-tokens takes JSON {"profile": NAME, "token": 64 hex digits, "idToken": boolean, "container": boolean, "inPath": boolean (with "container" only)}');
  }
  return { profile: b.profile, token: b.token, idToken: b.idToken === true, container: b.container === true, inPath: b.inPath === true };
}
