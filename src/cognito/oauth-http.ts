import { UpstreamMalformedError, UpstreamUnavailableError } from '../errors.js';
import { scrub } from './translate-aws-error.js';

/** The fetch this module calls; tests pass a recording or failing one. */
export type HttpFetch = typeof fetch;

/**
 * A hung provider must not hold a login or a refresh forever: as for the AWS SDK calls,
 * 3 s to connect plus 5 s to answer, as one budget (fetch has no separate connect timeout).
 */
export const OAUTH_TIMEOUT_MS = 8_000;
/** Token and discovery answers are a few KB; a provider (or proxy) sending more is not read on. */
export const OAUTH_MAX_BODY_BYTES = 256 * 1024;

export interface HttpAnswer {
  readonly status: number;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
}

/** What a call is, for messages: "the managed login's token endpoint". */
export interface CallContext {
  readonly what: string;
  readonly fetch?: HttpFetch | undefined;
}

/**
 * POSTs an application/x-www-form-urlencoded body, as OAuth 2.0 wants for the token and
 * revocation endpoints. A client secret goes in HTTP Basic auth (RFC 6749 section 2.3.1,
 * the one method Cognito documents). Redirects are refused: a POST carrying a code or a
 * refresh token is not re-sent to wherever a 3xx points.
 */
export async function postForm(url: string, form: Readonly<Record<string, string>>, context: CallContext & { readonly basicAuth?: { user: string; password: string } | undefined }): Promise<HttpAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (context.basicAuth) headers.authorization = `Basic ${Buffer.from(`${formEncode(context.basicAuth.user)}:${formEncode(context.basicAuth.password)}`).toString('base64')}`;
  return send(url, { method: 'POST', headers, body: new URLSearchParams(form).toString(), redirect: 'error' }, context);
}

/** One call of an AWS JSON 1.1 API (`X-Amz-Target: Service.Operation`), unsigned: for the calls Cognito takes without credentials. */
export async function postAmzJson(url: string, target: string, body: unknown, context: CallContext): Promise<HttpAnswer> {
  const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  return send(url, { method: 'POST', headers, body: JSON.stringify(body), redirect: 'error' }, context);
}

export async function getJson(url: string, context: CallContext): Promise<HttpAnswer> {
  return send(url, { method: 'GET', headers: { accept: 'application/json' }, redirect: 'follow' }, context);
}

async function send(url: string, init: RequestInit, context: CallContext): Promise<HttpAnswer> {
  const fetchImpl = context.fetch ?? fetch;
  let response: Response;
  let text: string;
  try {
    response = await fetchImpl(url, { ...init, signal: AbortSignal.timeout(OAUTH_TIMEOUT_MS) });
    text = await readLimited(response);
  } catch (error) {
    if (error instanceof UpstreamMalformedError) throw error;
    // fetch's own message says only "fetch failed"; the reason is in its cause (ECONNREFUSED, ...).
    throw new UpstreamUnavailableError(`${capitalized(context.what)} did not answer (${networkReason(error)}).`, { cause: error });
  }
  return { status: response.status, json: parseJson(text) };
}

async function readLimited(response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > OAUTH_MAX_BODY_BYTES) throw new UpstreamMalformedError(`An answer of more than ${OAUTH_MAX_BODY_BYTES} bytes came from ${response.url || 'the provider'}; not read on.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The OAuth 2.0 error answer (RFC 6749 section 5.2), with the provider's words scrubbed of anything token-shaped. */
export function oauthError(json: unknown): { error: string; description: string } | undefined {
  if (!isRecord(json) || typeof json.error !== 'string') return undefined;
  const description = typeof json.error_description === 'string' ? `: ${scrub(json.error_description)}` : '';
  return { error: scrub(json.error).slice(0, 64), description };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function networkReason(error: unknown): string {
  const e = error as { name?: unknown; cause?: { code?: unknown; name?: unknown } } | null;
  const code = e?.cause?.code ?? e?.cause?.name ?? e?.name;
  return typeof code === 'string' ? code : 'network error';
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
