import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import { nodeHttp } from '../node-http.js';
import { requireBundle } from '../require-bundle.js';
import { BadRequestError, type BrokerError, InternalError, isBrokerError, RouteNotFoundError, UnauthorizedError } from '../errors.js';
import { AuthFailureThrottle } from './auth-failure-throttle.js';
import { registerChildTokenRoute } from './child-token-route.js';
import { type ContainerAdmin, registerContainerRoutes } from './container-routes.js';
import type { EndpointAuth, TokenKind, TokenScope } from './endpoint-auth.js';
import { registerProfileRoutes, registerRelativeUriRoute } from './profile-routes.js';
import { registerPublicRoutes } from './public-routes.js';
import type * as FastifySubset from './fastify-subset.cjs';
import { createRequestGuard } from './request-guard.js';
import { JSON_TYPE, sendJson } from './send-json.js';
import { registerStatusRoute } from './status-route.js';

/**
 * fastify, required when the first app is built (or loadFastify is called) rather than when
 * this module loads: loading it blocks the event loop for some tens of milliseconds, which
 * serve places itself (see createDaemon's listen).
 */
function fastify(): typeof FastifySubset.default {
  return requireBundle<typeof FastifySubset>(import.meta.url, './fastify-subset.cjs').default;
}

/** Loads fastify now, apart from building an app (once loaded, this costs nothing). */
export function loadFastify(): void {
  fastify();
}

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
  /** Which listener this app serves (default: the loopback one). */
  readonly listener?: ListenerPolicy;
  /** The daemon's containers, for the master's routes; undefined without server.containers. */
  readonly containers?: ContainerAdmin;
}

/**
 * What one listener accepts. Each bound address gets an app of its own, so a token's kind
 * can be refused by where it arrives: a container token opens nothing on loopback, and the
 * user's own tokens open nothing on the container address (a container must never be
 * handed one of those, and if it had one it would get 401).
 */
export interface ListenerPolicy {
  /** `loopback`: every route. `container`: a profile's credentials (and /token for a container token made with it), /healthz, and RELATIVE_URI's /v2/credentials/<token>. */
  readonly role: 'loopback' | 'container';
  /** The token kinds that open anything here; any other token is refused as a wrong one (401). */
  readonly accepts: ReadonlySet<TokenKind>;
  /** The only Host values accepted; undefined: loopback names (and server.host) with the bound port. */
  readonly exactHosts?: readonly string[];
}

export const LOOPBACK_LISTENER: ListenerPolicy = Object.freeze({ role: 'loopback', accepts: new Set<TokenKind>(['master', 'profile', 'child']) });

/** The container listener: container tokens only, and Host exactly one of `hosts` ("169.254.170.2:9911"). */
export function containerListener(hosts: readonly string[]): ListenerPolicy {
  return Object.freeze({ role: 'container', accepts: new Set<TokenKind>(['container']), exactHosts: [...hosts] });
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

function noSchemas(): never {
  throw new Error('cognito-broker routes declare no schemas: fastify\'s schema compilers are not loaded');
}

/**
 * The HTTP face of the broker: the container-credentials endpoint the AWS SDKs know, and
 * /token. Built apart from listen() so tests can drive it with inject().
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const log = deps.logger;
  const app = fastify()({
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
    // No route declares a schema (bodies are built and checked by hand), so fastify's default
    // compilers, ajv and fast-json-stringify's (about 110 modules), are never loaded: a route
    // that declared one would make the app fail to start.
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
  });
  const throttle = new AuthFailureThrottle();
  const policy = deps.listener ?? LOOPBACK_LISTENER;
  const guard = createRequestGuard(() => app.server.address(), deps.host, policy.exactHosts);
  // A token opens anything only where its kind is accepted, and only the way it was made: in
  // Authorization, or (RELATIVE_URI's) as the URL path.
  const usable = (scope: TokenScope | undefined, inPath: boolean): scope is TokenScope =>
    scope !== undefined && policy.accepts.has(scope.kind) && (scope.inPath === true) === inPath;

  // Callback style, not async: a request with the right token passes without a promise (a
  // guard that throws is caught by fastify's hook runner and answered by the error handler).
  const check = (request: FastifyRequest, presented: string | undefined, inPath: boolean, done: (error?: Error) => void): void => {
    guard(request);
    const scope = deps.auth.scopeOf(presented);
    if (usable(scope, inPath)) {
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
  const authenticated = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void =>
    check(request, request.headers.authorization, false, done);
  const pathAuthenticated = (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void =>
    check(request, (request.params as { token?: string } | undefined)?.token, true, done);
  const guarded = (request: FastifyRequest, _reply: FastifyReply, done: () => void): void => {
    guard(request);
    done();
  };

  // Every route gets the token check unless it is marked public, as each route is added: an
  // app-wide hook would ask each request's routeOptions which it is, a getter that builds a
  // dozen-field object every time.
  app.addHook('onRoute', (route) => {
    route.onRequest = route.config?.public === true ? guarded : route.config?.pathToken === true ? pathAuthenticated : authenticated;
  });

  app.decorateRequest('scope', null);
  if (policy.role === 'container') {
    registerPublicRoutes(app, deps.auth, { proof: false });
    registerProfileRoutes(app, deps.broker);
    registerRelativeUriRoute(app, deps.broker);
  } else {
    registerPublicRoutes(app, deps.auth);
    registerProfileRoutes(app, deps.broker);
    registerStatusRoute(app, deps.broker);
    registerChildTokenRoute(app, deps.broker, deps.auth, deps.containers !== undefined);
    registerContainerRoutes(app, deps.broker, deps.containers);
  }

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
    /** The token is the :token path parameter (RELATIVE_URI clients send no Authorization). */
    pathToken?: boolean;
  }
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
    const body = JSON.stringify(new BadRequestError(`Bad request: ${nodeHttp.STATUS_CODES[status]} (${error.code ?? 'unparsable'})`).toJSON());
    socket.write(`HTTP/1.1 ${status} ${nodeHttp.STATUS_CODES[status]}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
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
