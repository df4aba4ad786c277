import type { FastifyInstance } from 'fastify';
import type { Broker } from '../broker/broker.js';
import { BadRequestError, ContainersNotConfiguredError, ContainerTokenNotFoundError } from '../errors.js';
import type { ContainerTokenMode, ContainerTokenRecord } from '../store/container-token-registry.js';
import { requireScope } from './require-scope.js';
import { sendJson } from './send-json.js';

/** Where containers reach the daemon, and whether it listens there now. */
export interface ContainerListenerState {
  /** The address containers connect to (the Host they must send names it). */
  readonly address: string;
  /** The port containers connect to; undefined until the loopback listener has one. */
  readonly port: number | undefined;
  /** The listener for FULL_URI clients is bound (the address is on this machine, or the relay's port is held). */
  readonly listening: boolean;
  /** Port 80 for RELATIVE_URI clients: held, or why not. */
  readonly relativeUri: { readonly listening: boolean; readonly problem?: string };
  /** Docker Desktop: the daemon listens on 127.0.0.1:relayPort and the relay container forwards to it. */
  readonly relayPort?: number;
}

/** What a new long-lived container token opens. */
export interface ContainerTokenSpec {
  readonly profile: string;
  readonly idToken: boolean;
  readonly mode: ContainerTokenMode;
  readonly name?: string;
}

/** The daemon's containers, as the master's holder manages them (app/ implements it over the registry file). */
export interface ContainerAdmin {
  state(): ContainerListenerState;
  tokens(): readonly ContainerTokenRecord[];
  /** Records a new token (persisted before it resolves) and gives its value. */
  create(spec: ContainerTokenSpec): Promise<{ readonly record: ContainerTokenRecord; readonly token: string }>;
  /** False when there was none with this id. */
  revoke(id: string): Promise<boolean>;
}

const NAME = /^[\x21-\x7e][\x20-\x7e]{0,63}$/;

/**
 * The master's routes for containers, on the loopback listener only: GET /containers (where
 * the container listener is, and the long-lived tokens: ids and profiles, no values),
 * POST /containers/tokens (a new one; its value is in the answer, once) and
 * DELETE /containers/tokens/:id (revoked at once). Without server.containers: 409.
 */
export function registerContainerRoutes(app: FastifyInstance, broker: Broker, admin: ContainerAdmin | undefined): void {
  const configured = (): ContainerAdmin => {
    if (!admin) throw new ContainersNotConfiguredError();
    return admin;
  };
  app.get('/containers', (request, reply) => {
    requireScope(request, { what: 'master' });
    const a = configured();
    sendJson(reply, 200, JSON.stringify({ ...a.state(), tokens: a.tokens().map(({ master: _fingerprint, ...shown }) => shown) }));
  });
  app.post('/containers/tokens', async (request, reply) => {
    requireScope(request, { what: 'master' });
    const a = configured();
    const spec = parseSpec(request.body);
    // An unknown profile is the usual 404.
    broker.session(spec.profile);
    const { record, token } = await a.create(spec);
    const { master: _fingerprint, ...shown } = record;
    return sendJson(reply, 200, JSON.stringify({ ...shown, token }));
  });
  app.delete<{ Params: { id: string } }>('/containers/tokens/:id', async (request, reply) => {
    requireScope(request, { what: 'master' });
    const a = configured();
    if (!(await a.revoke(request.params.id))) throw new ContainerTokenNotFoundError(request.params.id);
    return sendJson(reply, 200, JSON.stringify({ id: request.params.id, revoked: true }));
  });
}

function parseSpec(body: unknown): ContainerTokenSpec {
  const b = (body ?? {}) as Partial<Record<keyof ContainerTokenSpec, unknown>>;
  const mode = b.mode ?? 'full-uri';
  if (typeof b.profile !== 'string' || (b.idToken !== undefined && typeof b.idToken !== 'boolean') || (mode !== 'full-uri' && mode !== 'relative-uri') ||
    (b.name !== undefined && (typeof b.name !== 'string' || !NAME.test(b.name)))) {
    throw new BadRequestError('Bad request: POST /containers/tokens takes JSON {"profile": NAME, "idToken": boolean, "mode": "full-uri" | "relative-uri", "name": up to 64 printable characters}');
  }
  return { profile: b.profile, idToken: b.idToken === true, mode, ...(b.name !== undefined ? { name: b.name as string } : {}) };
}
