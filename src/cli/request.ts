import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';
import { RequestFailedError, UsageError } from '../errors.js';
import { nodeHttp } from '../node-http.js';
import { freshCredentials, freshTokens } from './broker-read.js';
import { type CliIo, processIo } from './cli-io.js';
import { inferSigningScope, type OutgoingRequest, type SigningScope, signRequest } from './sign-request.js';

export const REQUEST_HELP = `Usage: cognito-broker request [--profile P] [--auth sigv4|id-token|access-token]
         [-X METHOD] [-H 'Name: value']... [-d DATA | -d @FILE | -d @-] [--service S] [--region R]
         [--bearer] [-v] [--max-time SECONDS] [--config PATH] URL

Sends one HTTP request with the broker's credentials and prints the response body on
stdout, as curl does:
  --auth sigv4         (default) signed with AWS Signature Version 4 from the profile's AWS
                       credentials, by the AWS SDK's own signer: IAM-authorized API Gateway
                       APIs, Lambda function URLs, any AWS API.
  --auth id-token      the ID token as the Authorization header (API Gateway Cognito authorizers)
  --auth access-token  the access token instead (authorizers that check OAuth scopes)
  --bearer             with a token: "Authorization: Bearer <token>" (HTTP API JWT authorizers
                       accept both)

The signing scope is read from the host for API Gateway (ID.execute-api.REGION.amazonaws.com),
Lambda function URLs (ID.lambda-url.REGION.on.aws, service "lambda") and
SERVICE.REGION.amazonaws.com; other hosts (custom domains) need --service and --region
(e.g. --service execute-api --region eu-west-1).

  -X, --request METHOD   default GET, or POST with -d
  -H, --header 'N: v'    a header to send (and sign); repeatable
  -d, --data DATA        the body; @FILE reads a file, @- standard input (bytes as they are;
                         several -d are joined with "&", as curl does)
  -v, --verbose          the response's status line and headers on stderr (never the request's
                         Authorization or signature)
  --max-time SECONDS     give up after this long (default 60)

Exit codes: 0 an HTTP status below 400; 22 an HTTP status of 400 or more, with the body still
printed (as curl --fail-with-body); 1 no response (connection refused, timeout) or a broker
error (not signed in, ...); 2 a usage error. Redirects are not followed.`;

/** curl's exit code for an HTTP error with --fail / --fail-with-body. */
export const HTTP_ERROR_EXIT = 22;
const DEFAULT_MAX_TIME_S = 60;

type AuthMode = 'sigv4' | 'id-token' | 'access-token';

export async function request(argv: string[], io: CliIo = processIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      config: { type: 'string' },
      auth: { type: 'string', default: 'sigv4' },
      request: { type: 'string', short: 'X' },
      header: { type: 'string', short: 'H', multiple: true, default: [] },
      data: { type: 'string', short: 'd', multiple: true, default: [] },
      service: { type: 'string' },
      region: { type: 'string' },
      bearer: { type: 'boolean', default: false },
      verbose: { type: 'boolean', short: 'v', default: false },
      'max-time': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('give exactly one URL');
  const url = parseUrl(positionals[0] as string);
  const auth = values.auth as AuthMode;
  if (!['sigv4', 'id-token', 'access-token'].includes(auth)) throw new UsageError(`--auth must be sigv4, id-token or access-token, not ${JSON.stringify(values.auth)}`);
  const headers = parseHeaders(values.header);
  if (headers.authorization !== undefined) throw new UsageError('no Authorization header: --auth sets it');
  const body = values.data.length > 0 ? Buffer.concat(await Promise.all(values.data.map(readData)).then((parts) => joinParts(parts))) : undefined;
  const method = (values.request ?? (body ? 'POST' : 'GET')).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new UsageError(`-X must be an HTTP method such as GET or POST, not ${JSON.stringify(values.request)}`);
  if (body && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded';
  const maxTimeMs = parseMaxTime(values['max-time']);
  const read = { config: values.config, profile: values.profile };

  let sent: Record<string, string>;
  if (auth === 'sigv4') {
    const scope = await signingScope(url, values.service, values.region);
    const c = await freshCredentials(read, io);
    sent = await signRequest({ method, url, headers, body }, scope, { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token });
  } else {
    const tokens = await freshTokens(read, io);
    const value = auth === 'id-token' ? tokens.IdToken : tokens.AccessToken;
    sent = { ...headers, authorization: values.bearer ? `Bearer ${value}` : value };
  }
  const response = await send({ method, url, headers: sent, body }, maxTimeMs);
  if (values.verbose) {
    io.stderr(`< HTTP/${response.message.httpVersion} ${response.message.statusCode ?? 0} ${response.message.statusMessage ?? ''}\n`);
    for (let i = 0; i < response.message.rawHeaders.length; i += 2) io.stderr(`< ${response.message.rawHeaders[i]}: ${response.message.rawHeaders[i + 1]}\n`);
  }
  writeBody(io, response.body);
  return (response.message.statusCode ?? 0) >= 400 ? HTTP_ERROR_EXIT : 0;
}

function parseUrl(text: string): URL {
  if (!URL.canParse(text)) throw new UsageError(`not a URL: ${JSON.stringify(text)}`);
  const url = new URL(text);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`an http:// or https:// URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new UsageError('no user name or password in the URL');
  return url;
}

/** 'Name: value' lines, names lower-cased (as the signer wants them). */
export function parseHeaders(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(':');
    const name = line.slice(0, at).trim().toLowerCase();
    if (at <= 0 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new UsageError(`-H wants 'Name: value', not ${JSON.stringify(line)}`);
    const value = line.slice(at + 1).trim();
    if (/[\r\n\0]/.test(value)) throw new UsageError(`the value of header ${name} has a line break`);
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

async function readData(arg: string): Promise<Buffer> {
  if (arg === '@-') return readAllStdin();
  if (arg.startsWith('@')) return readFile(arg.slice(1));
  return Buffer.from(arg, 'utf8');
}

function joinParts(parts: readonly Buffer[]): Buffer[] {
  return parts.flatMap((part, i) => (i === 0 ? [part] : [Buffer.from('&'), part]));
}

function parseMaxTime(text: string | undefined): number {
  if (text === undefined) return DEFAULT_MAX_TIME_S * 1000;
  const seconds = Number(text);
  if (!(seconds > 0 && seconds <= 86_400)) throw new UsageError(`--max-time wants seconds, 1 to 86400, not ${JSON.stringify(text)}`);
  return seconds * 1000;
}

/** --service and --region win; else what the host names; else the profile's region, and --service is required. */
async function signingScope(url: URL, service: string | undefined, region: string | undefined): Promise<SigningScope> {
  const inferred = inferSigningScope(url.hostname);
  const s = service ?? inferred.service;
  const r = region ?? inferred.region;
  if (s === undefined || r === undefined) {
    throw new UsageError(`${url.hostname} names no AWS service and region to sign for: give --service (e.g. execute-api, lambda) and --region`);
  }
  if (!/^[a-z0-9-]{1,64}$/.test(s)) throw new UsageError(`--service wants a signing name such as execute-api, not ${JSON.stringify(s)}`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(r)) throw new UsageError(`--region wants a region such as eu-west-1, not ${JSON.stringify(r)}`);
  return { service: s, region: r };
}

interface Response {
  readonly message: IncomingMessage;
  readonly body: Buffer;
}

/** node:http, not fetch: fetch sets Host and other headers itself, and signed headers must go as signed. */
async function send(outgoing: OutgoingRequest, maxTimeMs: number): Promise<Response> {
  const { url } = outgoing;
  const make = url.protocol === 'https:' ? httpsRequest : nodeHttp.request;
  return new Promise<Response>((resolve, reject) => {
    const req = make(url, { method: outgoing.method, headers: { ...outgoing.headers, ...(outgoing.body ? { 'content-length': String(outgoing.body.length) } : {}) }, signal: AbortSignal.timeout(maxTimeMs) }, (message) => {
      const chunks: Buffer[] = [];
      message.on('data', (chunk: Buffer) => chunks.push(chunk));
      message.on('end', () => resolve({ message, body: Buffer.concat(chunks) }));
      message.on('error', (error: NodeJS.ErrnoException) => reject(failure(url, error)));
    });
    req.on('error', (error: NodeJS.ErrnoException) => reject(failure(url, error)));
    req.end(outgoing.body);
  });
}

/** The body as it came: bytes to a real stdout; text to a test's. */
function writeBody(io: CliIo, body: Buffer): void {
  if (io === processIo) process.stdout.write(body);
  else io.stdout(body.toString('utf8'));
}

function failure(url: URL, error: NodeJS.ErrnoException): RequestFailedError {
  // The code only, never the request: its headers carry the signature or the token.
  const why = error.name === 'AbortError' || error.name === 'TimeoutError' ? 'no answer in time (--max-time)' : (error.code ?? error.name);
  return new RequestFailedError(url.origin, why);
}

async function readAllStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
