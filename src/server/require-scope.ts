import type { FastifyRequest } from 'fastify';
import { TokenScopeError, UnauthorizedError } from '../errors.js';
import { allows, describeScope, type ScopeNeed, type TokenScope } from './endpoint-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the request's token opens; set by the token check before any protected route runs. */
    scope: TokenScope | null;
  }
}

/** Throws the 403 that says what the token is for, when it does not open `need`. */
export function requireScope(request: FastifyRequest, need: ScopeNeed): void {
  const { scope } = request;
  // Only a public route has none, and public routes never ask.
  if (!scope) throw new UnauthorizedError();
  if (allows(scope, need)) return;
  const wanted = need.what === 'master'
    ? `${request.method} ${request.url.split('?')[0]}, which only the master token of the token file opens`
    : `the ${need.what === 'token' ? 'ID token' : 'credentials'} of profile "${need.profile}"`;
  throw new TokenScopeError(describeScope(scope), wanted);
}
