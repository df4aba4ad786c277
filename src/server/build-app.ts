import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import type { AwsCredentials, UserPoolTokens } from '../cognito/types.js';
import { BadRequestError, type BrokerError, InternalError, isBrokerError, RouteNotFoundError, TokenScopeError, UnauthorizedError } from '../errors.js';
import { AuthFailureThrottle } from './auth-failure-throttle.js';
import { registerChildTokenRoute } from './child-token-route.js';
import { credentialsJson } from './container-credentials.js';
import { allows, describeScope, type EndpointAuth, type ScopeNeed, type TokenScope } from './endpoint-auth.js';
import { createRequestGuard } from './request-guard.js';
import { JSON_TYPE, sendJson } from './send-json.js';
import { registerStatusRoute } from './status-route.js';

export interface AppDeps {
  readonly broker: Broker;
  /** Which tokens open what (the master from the token file, and what is derived from it). */
  readonly auth: EndpointAuth;
  readonly logger: Logger;
  /**
   * server.host from the config. Loopback names are always accepted in Host; with
   * server.allowNonLoopback this may name another address that Host may carry too.
   */
  readonly host?: string;
}

// Nothing we serve has a body to read; anything larger than this is not a client of ours.
const BODY_LIMIT_BYTES = 1024;

// Slow clients must not hold the server. Our clients are SDKs on the same machine that send
// one small request in one packet and read an answer given from memory within 750 ms, so
// the limits can be tight: a client that trickles its headers (slowloris) is cut off after
// HEADERS_TIMEOUT_MS, one whose body never ends after REQUEST_TIMEOUT_MS, and an idle
// keep-alive socket after KEEP_ALIVE_TIMEOUT_MS. A socket that sends nothing at all is cut off
// by the headers timeout too (Node counts it from the connection), so there is no socket
// timeout (fastify's connectionTimeout): one re-arms a timer on every read and write, 12% of
// a request's CPU at 50 connections.
/** Whole header block received within this (Node answers 408 and closes otherwise). */
export const HEADERS_TIMEOUT_MS = 2_000;
/** Whole request, body included, received within this. */
export const REQUEST_TIMEOUT_MS = 3_000;
/** Idle keep-alive connections are closed after this (fastify's default is 72 s). */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How often Node checks the two timeouts above (its default, 30 s, would let slow clients stay 30 s). */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 250;
/** An SDK's request headers are a few hundred bytes; Node's default is 16 KiB. */
export const MAX_HEADER_SIZE_BYTES = 8 * 1024;

/**
 * The HTTP face of the broker: the container-credentials endpoint the AWS SDKs know, and
 * /token. Built apart from listen() so tests can drive it with inject().
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const log = deps.logger;
  const app = Fastify({
    // No logger for fastify: with one, every request costs a child logger, a check of it and
    // two response listeners (a tenth of a request's CPU), for log lines
    // we never write per request. What we log about a request (failed auth, an unexpected
    // error, a malformed request) is logged below, to our logger.
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
      maxHeaderSize: MAX_HEADER_SIZE_BYTES,
      // Requests without Host reach the request guard, which refuses them (403) with our
      // JSON error body rather than Node's bare 400.
      requireHostHeader: false,
    },
    // Bytes Node's parser refuses (bad header characters, oversize headers, timeouts) are
    // answered here, before any hook. Fastify's own handler logs the error with its
    // rawPacket, the request's raw bytes, Authorization header included.
    clientErrorHandler: (error, socket) => answerClientError(error, socket, log),
    // A URL the router cannot decode (e.g. "/%zz") is answered here, before any hook.
    frameworkErrors: (error, _request, reply) => {
      sendError(reply as FastifyReply, new BadRequestError(`Bad request: ${error.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid percent-encoding' : 'malformed request'}`));
    },
  });
  const throttle = new AuthFailureThrottle();
  const guard = createRequestGuard(() => app.server.address(), deps.host);

  // Callback style, not async: a request with the right token passes without a promise (a
  // guard that throws is caught by fastify's hook runner and answered by the error handler).
  const authenticated = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    guard(request);
    const scope = deps.auth.scopeOf(request.headers.authorization);
    if (scope) {
      request.scope = scope;
      done();
      return;
    }
    const delayMs = throttle.recordFailure(log);
    void throttle.wait(delayMs).then((answered) => {
      // Too many failed requests already waiting: close this one unanswered (see the throttle).
      if (!answered) request.raw.destroy();
      done(new UnauthorizedError());
    });
  };
  const guarded = (request: FastifyRequest, _reply: FastifyReply, done: () => void): void => {
    guard(request);
    done();
  };

  // Every route gets the token check unless it is marked public, as each route is added: an
  // app-wide hook would ask each request's routeOptions which it is, a getter that builds a
  // dozen-field object every time.
  app.addHook('onRoute', (route) => {
    route.onRequest = route.config?.public === true ? guarded : authenticated;
  });

  app.decorateRequest('scope', null);
  registerStatusRoute(app, deps.broker, (request) => requireScope(request, { what: 'master' }));
  registerChildTokenRoute(app, deps.broker, deps.auth, (request) => requireScope(request, { what: 'master' }));
  // Public, so it says nothing but that the server is up: which profiles it serves, and in
  // what state, is for the token's holders (GET /status).
  app.get('/healthz', { config: { public: true } }, (_request, reply) => {
    sendJson(reply, 200, HEALTHY);
  });
  // Public by necessity: the CLI asks for this proof before it sends any token, and only a
  // holder of the master can give it (endpoint-auth.ts, daemonProof).
  app.get<{ Querystring: { nonce?: string } }>('/proof', { config: { public: true } }, (request, reply) => {
    const proof = deps.auth.proof(String(request.query.nonce ?? ''));
    if (proof === undefined) throw new BadRequestError('Bad request: GET /proof needs ?nonce= with 64 hex digits');
    sendJson(reply, 200, JSON.stringify({ proof }));
  });

  // Plain functions that send, not async ones that return: each async layer is another
  // promise turn between the request and its answer. A throw (unknown profile) and a
  // rejection both reach the error handler (fastify routes an Error given to send() there).
  // Fresh credentials (nearly every request) are sent without waiting on any promise.
  const credentials = (request: FastifyRequest, profile: string, reply: FastifyReply): void => {
    requireScope(request, { profile, what: 'credentials' });
    const session = deps.broker.session(profile);
    const send = (c: AwsCredentials): unknown => sendJson(reply, 200, credentialsJson(c, session.accountId));
    const fresh = session.freshCredentials();
    if (fresh) send(fresh);
    else session.credentials().then(send, (error: unknown) => reply.send(error));
  };
  const token = (request: FastifyRequest, profile: string, reply: FastifyReply): void => {
    requireScope(request, { profile, what: 'token' });
    const session = deps.broker.session(profile);
    const send = (t: UserPoolTokens): unknown => sendJson(reply, 200, tokenBody(t));
    const fresh = session.freshTokens();
    if (fresh) send(fresh);
    else session.tokens().then(send, (error: unknown) => reply.send(error));
  };

  const defaultProfile = deps.broker.defaultProfile;
  app.get('/credentials', (request, reply) => credentials(request, defaultProfile, reply));
  app.get('/token', (request, reply) => token(request, defaultProfile, reply));
  app.get<{ Params: { name: string } }>('/profiles/:name/credentials', (request, reply) => credentials(request, request.params.name, reply));
  app.get<{ Params: { name: string } }>('/profiles/:name/token', (request, reply) => token(request, request.params.name, reply));

  // Unknown routes need the token too: which routes exist is not for a stranger to probe.
  app.setNotFoundHandler({ preValidation: authenticated }, (request, reply) => {
    sendError(reply, new RouteNotFoundError(request.method, request.url.split('?')[0] ?? '/'));
  });
  app.setErrorHandler(async (error, request, reply) => sendError(reply, toBrokerError(error, request, log)));
  return app;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the auth token. */
    public?: boolean;
  }
  interface FastifyRequest {
    /** What the request's token opens; set by the token check before any protected route runs. */
    scope: TokenScope | null;
  }
}

const HEALTHY = JSON.stringify({ status: 'ok' });

/** Throws the 403 that says what the token is for, when it does not open `need`. */
function requireScope(request: FastifyRequest, need: ScopeNeed): void {
  const { scope } = request;
  // Only a public route has none, and public routes never ask.
  if (!scope) throw new UnauthorizedError();
  if (allows(scope, need)) return;
  const wanted = need.what === 'master' ? `${request.method} ${request.url.split('?')[0]}, which only the master token of the token file opens` : `the ${need.what === 'token' ? 'ID token' : 'credentials'} of profile "${need.profile}"`;
  throw new TokenScopeError(describeScope(scope), wanted);
}

/** Status for what Node's HTTP parser refused, by its error code. */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = { ERR_HTTP_REQUEST_TIMEOUT: 408, HPE_HEADER_OVERFLOW: 431 };

function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, log: Logger): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = (error.code && CLIENT_ERROR_STATUS[error.code]) || 400;
  // The code only: never the error object, whose rawPacket holds the request's bytes.
  log.debug({ code: error.code, status }, 'malformed request refused');
  // As Node's own handler does: no answer while a response is being written on this
  // socket (a 403 already sent for headers whose body turns out malformed); two
  // interleaved answers would corrupt what the client reads. It is closed instead.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && inFlight?.headersSent !== true) {
    const body = JSON.stringify(new BadRequestError(`Bad request: ${STATUS_CODES[status]} (${error.code ?? 'unparsable'})`).toJSON());
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

function sendError(reply: FastifyReply, error: BrokerError): FastifyReply {
  return sendJson(reply, error.statusCode, JSON.stringify(error.toJSON()));
}

function toBrokerError(error: unknown, request: FastifyRequest, log: Logger): BrokerError {
  if (isBrokerError(error)) return error;
  const status = (error as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new BadRequestError(`Bad request: ${(error as Error).message}`);
  }
  log.error({ reqId: request.id, err: { name: (error as Error).name, message: (error as Error).message } }, 'unexpected error serving a request');
  return new InternalError();
}

// Serialized once per token set, not once per request.
const tokenJson = new WeakMap<UserPoolTokens, string>();

function tokenBody(t: UserPoolTokens): string {
  let body = tokenJson.get(t);
  if (body === undefined) {
    body = JSON.stringify({ IdToken: t.idToken, AccessToken: t.accessToken, Expiration: new Date(t.expiresAt).toISOString() });
    tokenJson.set(t, body);
  }
  return body;
}
