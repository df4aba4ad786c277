import type { FastifyInstance } from 'fastify';
import type { Broker } from '../broker/broker.js';
import { requireScope } from './require-scope.js';
import { sendJson } from './send-json.js';

/**
 * GET /status: each profile's phase, IdentityId, expiries, last refresh, last error and
 * upstream call counts, for `cognito-broker status`. For the master token only (an
 * IdentityId, another profile's state and an error message are not for a tool given one
 * profile), and nothing secret in it: no token, no key, no refresh token.
 */
export function registerStatusRoute(app: FastifyInstance, broker: Broker): void {
  app.get('/status', (request, reply) => {
    requireScope(request, { what: 'master' });
    sendJson(reply, 200, JSON.stringify({ defaultProfile: broker.defaultProfile, pid: process.pid, profiles: broker.status() }));
  });
}
