/**
 * The AWS JSON 1.1 protocol both emulators speak: `POST /` with
 * `X-Amz-Target: <Service>.<Operation>`, a JSON object in, a JSON object out, and errors as
 * `{"__type": type, "message": message}`, which the real SDK turns into its error classes.
 */
import type { ServerResponse } from 'node:http';

export const AWS_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** An error answered on the wire as `{"__type": type, "message": message}`. */
export class AwsJsonFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'AwsJsonFault';
  }
}

/** The operation named by X-Amz-Target, if it is one of `operations` of the service `prefix`. */
export function parseTarget<Op extends string>(header: string | string[] | undefined, prefix: string, operations: readonly Op[]): Op {
  const target = Array.isArray(header) ? header[0] : header;
  if (!target) throw new AwsJsonFault('UnknownOperationException', 'Missing X-Amz-Target header.');
  const operation = target.startsWith(prefix) ? target.slice(prefix.length) : '';
  if (!(operations as readonly string[]).includes(operation)) {
    throw new AwsJsonFault('UnknownOperationException', `Operation ${target} is not supported by this emulator.`);
  }
  return operation as Op;
}

export function parseInput(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new AwsJsonFault('SerializationException', 'The request body is not valid JSON.');
  }
  if (!isPlainObject(parsed)) throw new AwsJsonFault('SerializationException', 'The request body must be a JSON object.');
  return parsed;
}

export function sendAwsJson(res: ServerResponse, status: number, requestId: string, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': AWS_JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
  });
  res.end(text);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
