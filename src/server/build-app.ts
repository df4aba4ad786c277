import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import type { AwsCredentials, UserPoolTokens } from '../cognito/types.js';
import { BadRequestError, type BrokerError, InternalError, isBrokerError, RouteNotFoundError, UnauthorizedError } from '../errors.js';
import { createRequestGuard } from './request-guard.js';
import { TokenCheck } from './token-check.js';

export interface AppDeps {
  readonly broker: Broker;
  /** The endpoint's auth token (AWS_CONTAINER_AUTHORIZATION_TOKEN). */
  readonly authToken: string;
  readonly logger: Logger;
}

const JSON_TYPE = 'application/json';
// Nothing we serve has a body to read; anything larger than this is not a client of ours.
const BODY_LIMIT_BYTES = 1024;

/**
 * The HTTP face of the broker: the container-credentials endpoint the AWS SDKs know, and
 * /token. Built apart from listen() so tests can drive it with inject().
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Per-request log lines would put logging on the hot path; failures are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
  });
  const tokenCheck = new TokenCheck(deps.authToken);
  const guard = createRequestGuard(() => app.server.address());

  app.addHook('onRequest', async (request) => {
    guard(request);
    if (request.routeOptions.config.public !== true && !tokenCheck.matches(request.headers.authorization)) {
      tokenCheck.noteFailure(request.log);
      throw new UnauthorizedError();
    }
  });

  // Exactly "application/json", no charset: the Go SDK parses error bodies only with that
  // Content-Type, and fastify appends "; charset=utf-8" to any JSON type set on a reply.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-type', JSON_TYPE);
  });

  app.get('/healthz', { config: { public: true } }, async (_request, reply) => {
    const profiles = Object.fromEntries(deps.broker.status().map((s) => [s.profile, s.phase]));
    return sendJson(reply, 200, JSON.stringify({ status: 'ok', profiles }));
  });

  const credentials = async (profile: string | undefined, reply: FastifyReply) =>
    sendJson(reply, 200, credentialsBody(await deps.broker.session(profile).credentials(), deps.broker.session(profile).accountId));
  const token = async (profile: string | undefined, reply: FastifyReply) =>
    sendJson(reply, 200, tokenBody(await deps.broker.session(profile).tokens()));

  app.get('/credentials', async (_request, reply) => credentials(undefined, reply));
  app.get('/token', async (_request, reply) => token(undefined, reply));
  app.get<{ Params: { name: string } }>('/profiles/:name/credentials', async (request, reply) => credentials(request.params.name, reply));
  app.get<{ Params: { name: string } }>('/profiles/:name/token', async (request, reply) => token(request.params.name, reply));

  app.setNotFoundHandler(async (request, reply) => {
    guard(request);
    return sendError(reply, new RouteNotFoundError(request.method, request.url.split('?')[0] ?? '/'));
  });
  app.setErrorHandler(async (error, request, reply) => sendError(reply, toBrokerError(error, request)));
  return app;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the auth token. */
    public?: boolean;
  }
}

function sendJson(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('content-type', JSON_TYPE).header('cache-control', 'no-store').send(body);
}

function sendError(reply: FastifyReply, error: BrokerError): FastifyReply {
  return sendJson(reply, error.statusCode, JSON.stringify(error.toJSON()));
}

function toBrokerError(error: unknown, request: FastifyRequest): BrokerError {
  if (isBrokerError(error)) return error;
  const status = (error as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new BadRequestError(`Bad request: ${(error as Error).message}`);
  }
  request.log.error({ err: { name: (error as Error).name, message: (error as Error).message } }, 'unexpected error serving a request');
  return new InternalError();
}

// Serialized once per credential set, not once per request.
const credentialsJson = new WeakMap<AwsCredentials, string>();
const tokenJson = new WeakMap<UserPoolTokens, string>();

function credentialsBody(c: AwsCredentials, accountId: string | undefined): string {
  let body = credentialsJson.get(c);
  if (body === undefined) {
    body = JSON.stringify({
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      Token: c.sessionToken,
      // The JS SDK accepts only RFC 3339 ending in Z, which toISOString gives.
      Expiration: new Date(c.expiresAt).toISOString(),
      ...(accountId ? { AccountId: accountId } : {}),
    });
    credentialsJson.set(c, body);
  }
  return body;
}

function tokenBody(t: UserPoolTokens): string {
  let body = tokenJson.get(t);
  if (body === undefined) {
    body = JSON.stringify({ IdToken: t.idToken, AccessToken: t.accessToken, Expiration: new Date(t.expiresAt).toISOString() });
    tokenJson.set(t, body);
  }
  return body;
}
