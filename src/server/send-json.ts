import type { FastifyReply } from 'fastify';

export const JSON_TYPE = 'application/json';
// send() runs a string through the reply's serializer when it has one, and only without one
// appends "; charset=utf-8" to a JSON content type. The Go SDK reads error bodies only
// under exactly "application/json", so every body goes through this one, which leaves the
// string as it is.
const asIs = (body: string): string => body;

/**
 * Every answer of ours: JSON with Content-Type exactly "application/json", never cached. A
 * string, not a Buffer: Node writes the head and a string body as one chunk, where a Buffer
 * body costs a second one, a measurable share of a request's CPU on the hot path.
 */
export function sendJson(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('content-type', JSON_TYPE).header('cache-control', 'no-store').serializer(asIs).send(body);
}
