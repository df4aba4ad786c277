/**
 * The AWS JSON 1.1 protocol both emulators speak: `POST /` with
 * `X-Amz-Target: <Service>.<Operation>`, a JSON object in, a JSON object out, and errors as
 * `{"__type": type, "message": message}`, which the real SDK turns into its error classes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http.js';

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

/** An error the emulator answers with instead of running the operation (see failNext). */
export interface EmulatorFault {
  /** Default 400. */
  status?: number;
  /** The `__type`, e.g. 'TooManyRequestsException', 'InternalErrorException'. */
  type: string;
  message?: string;
}

/** The faults failNext queued: each answers the next `times` calls of its operation. */
export class FaultQueue<Op extends string> {
  private readonly entries: { operation: Op; fault: EmulatorFault; remaining: number }[] = [];

  /** `toError` makes the emulator's own fault class from the queued fault. */
  constructor(private readonly toError: (type: string, message: string, status: number) => Error) {}

  add(operation: Op, fault: EmulatorFault, times = 1): void {
    this.entries.push({ operation, fault, remaining: times });
  }

  /** Throws the first fault queued for `operation`, if there is one. */
  throwIfDue(operation: Op): void {
    const index = this.entries.findIndex((f) => f.operation === operation);
    const entry = this.entries[index];
    if (!entry) return;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.entries.splice(index, 1);
    const { type, status = 400, message = `Injected ${type}.` } = entry.fault;
    throw this.toError(type, message, status);
  }
}

/** One AWS JSON service on `POST /`: its operations, limits and handlers. */
export interface AwsJsonService<Op extends string> {
  /** `<Service>.`, as X-Amz-Target starts. */
  readonly targetPrefix: string;
  readonly operations: readonly Op[];
  readonly maxBodyBytes: number;
  /** The emulator's own fault class, for what it answers itself. */
  readonly fault: (type: string, message: string, status: number) => AwsJsonFault;
  /** Called for every call of a known operation before its input is read: count it, throw an injected fault. */
  readonly received: (operation: Op) => void;
  /** `request`: the raw request and body, for an operation that checks a signature over them. */
  readonly run: (operation: Op, input: Record<string, unknown>, request: { req: IncomingMessage; body: string }) => unknown;
}

/** Answers one request to `service`: its output as 200, any fault as `{"__type","message"}`, anything else as a 500. */
export async function answerAwsJson<Op extends string>(req: IncomingMessage, res: ServerResponse, service: AwsJsonService<Op>): Promise<void> {
  const requestId = randomUUID();
  try {
    sendAwsJson(res, 200, requestId, await dispatch(req, service));
  } catch (error) {
    const fault = error instanceof AwsJsonFault ? error : service.fault('InternalErrorException', 'An internal error occurred.', 500);
    sendAwsJson(res, fault.status, requestId, { __type: fault.type, message: fault.message });
  }
}

async function dispatch<Op extends string>(req: IncomingMessage, service: AwsJsonService<Op>): Promise<unknown> {
  if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
    req.resume();
    throw service.fault('UnknownOperationException', `No operation at ${req.method} ${req.url}.`, 404);
  }
  const tooLarge = () => service.fault('SerializationException', `Request body larger than ${service.maxBodyBytes} bytes.`, 413);
  const body = (await readBody(req, service.maxBodyBytes, tooLarge)).toString('utf8');
  const operation = parseTarget(req.headers['x-amz-target'], service.targetPrefix, service.operations);
  service.received(operation);
  return service.run(operation, parseInput(body), { req, body });
}
