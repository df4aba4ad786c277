import type { FastifyInstance } from 'fastify';
import type { Broker } from '../broker/broker.js';
import { sendJson } from './send-json.js';

/**
 * GET /status: each profile's phase, IdentityId, expiries, last refresh, last error and
 * upstream call counts, for `cognito-broker status`. Behind the same Authorization check as
 * every route but /healthz (an IdentityId and an error message are not for any local page
 * to read), and nothing secret in it: no token, no key, no refresh token.
 */
export function registerStatusRoute(app: FastifyInstance, broker: Broker): void {
  app.get('/status', (_request, reply) => {
    sendJson(reply, 200, JSON.stringify({ defaultProfile: broker.defaultProfile, pid: process.pid, profiles: broker.status() }));
  });
}
