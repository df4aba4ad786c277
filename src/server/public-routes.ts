import type { FastifyInstance } from 'fastify';
import { BadRequestError } from '../errors.js';
import type { EndpointAuth } from './endpoint-auth.js';
import { sendJson } from './send-json.js';

const HEALTHY = JSON.stringify({ status: 'ok' });

/**
 * The two routes served without a token. The container listener has /healthz only: the
 * proof is for the user's CLI, which never looks for its daemon there.
 */
export function registerPublicRoutes(app: FastifyInstance, auth: EndpointAuth, options: { readonly proof?: boolean } = {}): void {
  // It says nothing but that the server is up: which profiles it serves, and in what state,
  // is for the token's holders (GET /status).
  app.get('/healthz', { config: { public: true } }, (_request, reply) => {
    sendJson(reply, 200, HEALTHY);
  });
  if (options.proof === false) return;
  // Public by necessity: the CLI asks for this proof before it sends any token, and only a
  // holder of the master can give it (endpoint-auth.ts, daemonProof).
  app.get<{ Querystring: { nonce?: string } }>('/proof', { config: { public: true } }, (request, reply) => {
    const proof = auth.proof(String(request.query.nonce ?? ''));
    if (proof === undefined) throw new BadRequestError('Bad request: GET /proof needs ?nonce= with 64 hex digits');
    sendJson(reply, 200, JSON.stringify({ proof }));
  });
}
