/**
 * A tiny STS on 127.0.0.1 that answers GetCallerIdentity, and only for requests signed
 * (SigV4) with credentials the identity-pool emulator issued. A client that gets an Arn
 * back has really used the broker's credentials: right key, right secret, right session
 * token, not expired.
 *
 * Protocol: both the JS SDK v3 STSClient and botocore / AWS CLI v1 speak awsQuery to STS
 * (form-encoded `Action=GetCallerIdentity&Version=2011-06-15`, XML back). The awsJson1_0
 * variant some AWS services moved to (X-Amz-Target AWSSecurityTokenServiceV20110615.*) is
 * answered too, should a newer SDK switch.
 *
 * The signature is recomputed with the SDK's own signer (@smithy/signature-v4), not with
 * hand-written SigV4 math, and compared in constant time.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listen, readBody } from '../http.js';
import { SignatureV4 } from '@smithy/signature-v4';
import { assumeRoleWithWebIdentity, type WebIdentityCredentials, type WebIdentityVerifier, WebIdentityFault, webIdentityResponse } from './sts-web-identity.js';

/** What the stub needs to know about an issued credential (IdentityPoolEmulator fits). */
export interface StsCredentialRecord {
  secretKey: string;
  sessionToken: string;
  expiration: Date;
  roleArn: string;
}

export interface StsCredentialLookup {
  lookupCredentials(accessKeyId: string): StsCredentialRecord | undefined;
}

export interface StsStubOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Usually the IdentityPoolEmulator. */
  credentials: StsCredentialLookup;
  /** Epoch milliseconds; for expiry and the request-time window. */
  now?: () => number;
  /** How far X-Amz-Date may be from now; STS allows 15 minutes. */
  maxClockSkewSeconds?: number;
  /** AssumeRoleWithWebIdentity (sts-web-identity.ts): how its tokens are verified; absent, the action is unknown. */
  webIdentity?: WebIdentityVerifier;
}

export type StsOutcome =
  | 'ok'
  | 'MissingAuthenticationToken'
  | 'IncompleteSignature'
  | 'InvalidClientTokenId'
  | 'ExpiredToken'
  | 'SignatureDoesNotMatch'
  | 'InvalidAction'
  | 'MalformedRequest'
  | WebIdentityFault['code'];

export interface StsRequestRecord {
  at: Date;
  protocol: 'query' | 'json';
  action: string | undefined;
  accessKeyId: string | undefined;
  outcome: StsOutcome;
  /** The Arn answered, when the outcome is 'ok'. */
  arn?: string;
  userAgent: string | undefined;
}

export interface StsStub {
  readonly url: string;
  readonly port: number;
  /** Every request, accepted or not, in order. */
  readonly requests: readonly StsRequestRecord[];
  /** Access key ids of the requests that were accepted, in order, without repeats. */
  acceptedAccessKeyIds(): string[];
  /** Credentials AssumeRoleWithWebIdentity issued, by access key id. */
  readonly assumed: ReadonlyMap<string, WebIdentityCredentials>;
  close(): Promise<void>;
}

export const STS_MAX_CLOCK_SKEW_SECONDS = 15 * 60;
const MAX_BODY_BYTES = 64 * 1024;
const XML_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
const JSON_TARGET_PREFIX = 'AWSSecurityTokenServiceV20110615.';
const AUTHORIZATION_PATTERN =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

class StsFault extends Error {
  constructor(
    readonly code: Exclude<StsOutcome, 'ok'>,
    message: string,
    readonly status = 403,
  ) {
    super(message);
  }
}

const INVALID_TOKEN = 'The security token included in the request is invalid.';

export async function startStsStub(options: StsStubOptions): Promise<StsStub> {
  const stub = new Stub(options);
  await stub.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  return stub;
}

interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body: Buffer;
}

class Stub implements StsStub {
  readonly requests: StsRequestRecord[] = [];
  readonly assumed = new Map<string, WebIdentityCredentials>();
  url = '';
  port = 0;
  private readonly server: Server;
  private readonly now: () => number;
  private readonly maxSkewMs: number;

  constructor(private readonly options: StsStubOptions) {
    this.now = options.now ?? Date.now;
    this.maxSkewMs = (options.maxClockSkewSeconds ?? STS_MAX_CLOCK_SKEW_SECONDS) * 1000;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(host: string, port: number): Promise<void> {
    ({ port: this.port, url: this.url } = await listen(this.server, host, port));
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  acceptedAccessKeyIds(): string[] {
    const ok = this.requests.filter((r) => r.outcome === 'ok' && r.accessKeyId !== undefined);
    return [...new Set(ok.map((r) => r.accessKeyId as string))];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const headers = canonicalHeaderValues(req.rawHeaders);
    const protocol = (headers['content-type'] ?? '').startsWith('application/x-amz-json') ? 'json' : 'query';
    const record: StsRequestRecord = {
      at: new Date(this.now()),
      protocol,
      action: undefined,
      accessKeyId: undefined,
      outcome: 'MalformedRequest',
      userAgent: headers['user-agent'],
    };
    this.requests.push(record);
    try {
      const body = await readBody(req, MAX_BODY_BYTES, () => new StsFault('MalformedRequest', `Request body larger than ${MAX_BODY_BYTES} bytes.`, 413));
      const [path = '/', rawQuery = ''] = (req.url ?? '/').split(/\?(.*)/s);
      const received: ReceivedRequest = { method: req.method ?? 'GET', path, query: parseQuery(rawQuery), headers, body };
      record.action = actionOf(received, protocol);
      if (record.action === 'AssumeRoleWithWebIdentity' && this.options.webIdentity && protocol === 'query') {
        await this.assumeRole(received, requestId, record, res);
        return;
      }
      const credentials = await this.authenticate(received, record);
      if (record.action !== 'GetCallerIdentity') {
        throw new StsFault('InvalidAction', `Could not find operation ${record.action ?? '(none)'} for version 2011-06-15`, 400);
      }
      const identity = callerIdentity(credentials.roleArn, (credentials as Partial<WebIdentityCredentials>).roleSessionName);
      record.outcome = 'ok';
      record.arn = identity.Arn;
      sendSuccess(res, protocol, requestId, identity);
    } catch (error) {
      const fault = error instanceof StsFault ? error : new StsFault('MalformedRequest', 'The request could not be read.', 400);
      record.outcome = fault.code;
      sendError(res, protocol, requestId, fault);
    }
  }

  private async authenticate(request: ReceivedRequest, record: StsRequestRecord): Promise<StsCredentialRecord> {
    const authorization = request.headers['authorization'];
    if (!authorization) throw new StsFault('MissingAuthenticationToken', 'Request is missing Authentication Token');
    const match = AUTHORIZATION_PATTERN.exec(authorization);
    if (!match) {
      throw new StsFault('IncompleteSignature', `Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256): ${authorization.slice(0, 40)}`);
    }
    const [, accessKeyId = '', scopeDate, region = '', service, signedHeaders = '', signature = ''] = match;
    record.accessKeyId = accessKeyId;
    const credentials = this.options.credentials.lookupCredentials(accessKeyId) ?? this.assumed.get(accessKeyId);
    if (!credentials) throw new StsFault('InvalidClientTokenId', INVALID_TOKEN);
    if (request.headers['x-amz-security-token'] !== credentials.sessionToken) {
      throw new StsFault('InvalidClientTokenId', INVALID_TOKEN);
    }
    if (credentials.expiration.getTime() <= this.now()) {
      throw new StsFault('ExpiredToken', 'The security token included in the request is expired', 400);
    }
    if (service !== 'sts') throw new StsFault('SignatureDoesNotMatch', `Credential should be scoped to correct service: 'sts'.`);
    const signingDate = this.checkRequestTime(request.headers['x-amz-date'], scopeDate);
    this.checkPayloadHash(request);
    const expected = await recomputeAuthorization(request, signedHeaders, signingDate, region, accessKeyId, credentials);
    const expectedMatch = AUTHORIZATION_PATTERN.exec(expected);
    if (!expectedMatch || expectedMatch[5] !== signedHeaders || !sameHex(expectedMatch[6] ?? '', signature)) {
      throw new StsFault(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    return credentials;
  }

  /** Unsigned, as real STS takes it: the web identity token is the authentication. */
  private async assumeRole(request: ReceivedRequest, requestId: string, record: StsRequestRecord, res: ServerResponse): Promise<void> {
    try {
      const issued = await assumeRoleWithWebIdentity(new URLSearchParams(request.body.toString('utf8')), this.options.webIdentity as WebIdentityVerifier, this.now());
      this.assumed.set(issued.accessKeyId, issued);
      record.outcome = 'ok';
      record.arn = issued.roleArn;
      send(res, 200, 'text/xml', requestId, webIdentityResponse(issued, requestId));
    } catch (error) {
      if (!(error instanceof WebIdentityFault)) throw error;
      throw new StsFault(error.code, error.message, error.status);
    }
  }

  private checkRequestTime(amzDate: string | undefined, scopeDate: string | undefined): Date {
    const parts = AMZ_DATE_PATTERN.exec(amzDate ?? '');
    if (!parts || !amzDate) {
      throw new StsFault('IncompleteSignature', 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.');
    }
    const [, y, mo, d, h, mi, s] = parts.map(Number) as [number, number, number, number, number, number, number];
    const signingDate = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    if (amzDate.slice(0, 8) !== scopeDate) {
      throw new StsFault('SignatureDoesNotMatch', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate.slice(0, 8)}'`);
    }
    if (Math.abs(signingDate.getTime() - this.now()) > this.maxSkewMs) {
      const now = new Date(this.now()).toISOString().replace(/[-:]|\.\d{3}/g, '');
      throw new StsFault('SignatureDoesNotMatch', `Signature expired: ${amzDate} is now earlier or later than ${now} (15 min skew allowed)`);
    }
    return signingDate;
  }

  /** The signer trusts X-Amz-Content-Sha256 when present, so check it against the body ourselves. */
  private checkPayloadHash(request: ReceivedRequest): void {
    const claimed = request.headers['x-amz-content-sha256'];
    if (claimed !== undefined && claimed !== createHash('sha256').update(request.body).digest('hex')) {
      throw new StsFault('SignatureDoesNotMatch', 'The provided x-amz-content-sha256 header does not match what was computed.', 400);
    }
  }
}

/** Signs the request as received (only the headers the client signed) with the issued secret. */
async function recomputeAuthorization(
  request: ReceivedRequest,
  signedHeaders: string,
  signingDate: Date,
  region: string,
  accessKeyId: string,
  credentials: StsCredentialRecord,
): Promise<string> {
  const names = signedHeaders.split(';');
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = request.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  const signer = new SignatureV4({
    service: 'sts',
    region,
    credentials: { accessKeyId, secretAccessKey: credentials.secretKey, sessionToken: credentials.sessionToken },
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const host = headers['host'] ?? '';
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: host.replace(/:\d+$/, ''),
      path: request.path,
      query: request.query,
      headers,
      body: request.body.length > 0 ? new Uint8Array(request.body) : undefined,
    },
    // signableHeaders: so a signed header on the signer's never-sign list (user-agent...) is still used.
    { signingDate, signableHeaders: new Set(names) },
  );
  return String(signed.headers['authorization'] ?? '');
}

/** The hash constructor the signer wants (@smithy/types Checksum), backed by node:crypto. */
class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

function actionOf(request: ReceivedRequest, protocol: 'query' | 'json'): string | undefined {
  if (protocol === 'json') {
    const target = request.headers['x-amz-target'] ?? '';
    return target.startsWith(JSON_TARGET_PREFIX) ? target.slice(JSON_TARGET_PREFIX.length) : undefined;
  }
  const form = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
    ? new URLSearchParams(request.body.toString('utf8'))
    : new URLSearchParams();
  const fromQuery = request.query['Action'];
  return form.get('Action') ?? (Array.isArray(fromQuery) ? fromQuery[0] : fromQuery);
}

/** What real STS answers for credentials from an identity pool role. */
function callerIdentity(roleArn: string, session = 'CognitoIdentityCredentials'): { UserId: string; Account: string; Arn: string } {
  const match = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:[^/]+\/)*([^/]+)$/.exec(roleArn);
  const [, partition = 'aws', account = '123456789012', roleName = 'unknown-role'] = match ?? [];
  // Role ids are AROA + 17 characters; derive a stable one from the role ARN.
  const roleId = `AROA${createHash('sha256').update(roleArn).digest('hex').toUpperCase().slice(0, 17)}`;
  return {
    UserId: `${roleId}:${session}`,
    Account: account,
    Arn: `arn:${partition}:sts::${account}:assumed-role/${roleName}/${session}`,
  };
}

function sendSuccess(
  res: ServerResponse,
  protocol: 'query' | 'json',
  requestId: string,
  identity: { UserId: string; Account: string; Arn: string },
): void {
  if (protocol === 'json') {
    send(res, 200, 'application/x-amz-json-1.0', requestId, JSON.stringify(identity));
    return;
  }
  send(
    res,
    200,
    'text/xml',
    requestId,
    `<GetCallerIdentityResponse xmlns="${XML_NAMESPACE}">
  <GetCallerIdentityResult>
    <Arn>${xmlEscape(identity.Arn)}</Arn>
    <UserId>${xmlEscape(identity.UserId)}</UserId>
    <Account>${identity.Account}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`,
  );
}

function sendError(res: ServerResponse, protocol: 'query' | 'json', requestId: string, fault: StsFault): void {
  if (protocol === 'json') {
    // awsQuery-compatible JSON services name the query error code in this header.
    res.setHeader('x-amzn-query-error', `${fault.code};Sender`);
    send(res, fault.status, 'application/x-amz-json-1.0', requestId, JSON.stringify({ __type: fault.code, message: fault.message }));
    return;
  }
  send(
    res,
    fault.status,
    'text/xml',
    requestId,
    `<ErrorResponse xmlns="${XML_NAMESPACE}">
  <Error>
    <Type>Sender</Type>
    <Code>${fault.code}</Code>
    <Message>${xmlEscape(fault.message)}</Message>
  </Error>
  <RequestId>${requestId}</RequestId>
</ErrorResponse>
`,
  );
}

function send(res: ServerResponse, status: number, contentType: string, requestId: string, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': requestId,
  });
  res.end(body);
}

/** Lower-cased header names; repeated headers joined with ',' as SigV4 canonicalisation does. */
function canonicalHeaderValues(rawHeaders: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  return headers;
}

function parseQuery(rawQuery: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(rawQuery)) {
    const existing = query[key];
    query[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}


function sameHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
