import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Broker } from '../broker/broker.js';
import type { AwsCredentials, UserPoolTokens } from '../cognito/types.js';
import { UnauthorizedError } from '../errors.js';
import { credentialsJson } from './container-credentials.js';
import { requireScope } from './require-scope.js';
import { sendJson } from './send-json.js';

/**
 * The container-credentials endpoint the AWS SDKs know, and /token: the default profile's at
 * /credentials and /token, every profile's under /profiles/:name/.
 */
export function registerProfileRoutes(app: FastifyInstance, broker: Broker): void {
  // Plain functions that send, not async ones that return: each async layer is another
  // promise turn between the request and its answer. A throw (unknown profile) and a
  // rejection both reach the error handler (fastify routes an Error given to send() there).
  // Fresh credentials (nearly every request) are sent without waiting on any promise.
  const credentials = (request: FastifyRequest, profile: string, reply: FastifyReply): void => sendCredentials(broker, request, profile, reply);
  const token = (request: FastifyRequest, profile: string, reply: FastifyReply): void => {
    requireScope(request, { profile, what: 'token' });
    const session = broker.session(profile);
    const send = (t: UserPoolTokens): unknown => sendJson(reply, 200, tokenJson(t));
    const fresh = session.freshTokens();
    if (fresh) send(fresh);
    else session.tokens().then(send, (error: unknown) => reply.send(error));
  };

  const defaultProfile = broker.defaultProfile;
  app.get('/credentials', (request, reply) => credentials(request, defaultProfile, reply));
  app.get('/token', (request, reply) => token(request, defaultProfile, reply));
  app.get<{ Params: { name: string } }>('/profiles/:name/credentials', (request, reply) => credentials(request, request.params.name, reply));
  app.get<{ Params: { name: string } }>('/profiles/:name/token', (request, reply) => token(request, request.params.name, reply));
}

/**
 * RELATIVE_URI (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI): clients always call
 * http://169.254.170.2:80 plus that path and send no Authorization, so the path is the
 * secret (a container token made for it, 64 hex digits), as ECS's own paths are. The token
 * check reads it from the path (build-app.ts); its scope names the profile.
 */
export function registerRelativeUriRoute(app: FastifyInstance, broker: Broker): void {
  app.get<{ Params: { token: string } }>('/v2/credentials/:token', { config: { pathToken: true } }, (request, reply) => {
    const profile = request.scope?.profile;
    if (profile === undefined) throw new UnauthorizedError();
    sendCredentials(broker, request, profile, reply);
  });
}

/** One profile's credentials, in scope: fresh ones at once, else when the session has them. */
function sendCredentials(broker: Broker, request: FastifyRequest, profile: string, reply: FastifyReply): void {
  requireScope(request, { profile, what: 'credentials' });
  const session = broker.session(profile);
  const send = (c: AwsCredentials): unknown => sendJson(reply, 200, credentialsJson(c, session.accountId));
  const fresh = session.freshCredentials();
  if (fresh) send(fresh);
  else session.credentials().then(send, (error: unknown) => reply.send(error));
}

// Serialized once per token set, not once per request.
const serialized = new WeakMap<UserPoolTokens, string>();

function tokenJson(t: UserPoolTokens): string {
  let body = serialized.get(t);
  if (body === undefined) {
    body = JSON.stringify({ IdToken: t.idToken, AccessToken: t.accessToken, Expiration: new Date(t.expiresAt).toISOString() });
    serialized.set(t, body);
  }
  return body;
}
