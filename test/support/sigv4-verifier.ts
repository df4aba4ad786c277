/**
 * An HTTP API on 127.0.0.1 that stands in for an IAM-authorized API Gateway: it accepts a
 * request only when its SigV4 signature, recomputed with the AWS SDK's own signer
 * (@smithy/signature-v4) from the secret the identity-pool emulator issued for its access
 * key, matches; the approach of testkit/emulators/sts-stub.ts. Token requests (Cognito authorizer)
 * are accepted when `acceptToken` accepts the Authorization header.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { closeServer, listen } from '../../testkit/http.js';

export interface IssuedLookup {
  lookupCredentials(accessKeyId: string): { secretKey: string; sessionToken: string; expiration: Date; roleArn: string } | undefined;
}

export interface VerifiedRequest {
  readonly method: string;
  readonly path: string;
  readonly outcome: 'ok' | 'refused';
  readonly reason?: string;
  readonly accessKeyId?: string;
  readonly roleArn?: string;
  readonly authorization?: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Sigv4Verifier {
  readonly url: string;
  readonly requests: readonly VerifiedRequest[];
  /** Alters what arrived before it is verified, as a tampering proxy would. */
  tamper: ((request: { path: string; body: Buffer; headers: Record<string, string> }) => void) | undefined;
  /** Token-authorized requests (a Cognito authorizer): whether to accept this Authorization value. */
  acceptToken: (authorization: string) => boolean;
  close(): Promise<void>;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

export async function startSigv4Verifier(issued: IssuedLookup, expected: { service: string; region: string }): Promise<Sigv4Verifier> {
  const requests: VerifiedRequest[] = [];
  const verifier: Sigv4Verifier = {
    url: '',
    requests,
    tamper: undefined,
    acceptToken: () => false,
    close: () => closeServer(server),
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 100;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const received = { path: req.url ?? '/', body: Buffer.concat(chunks), headers: headerValues(req.rawHeaders) };
    verifier.tamper?.(received);
    const base = { method: req.method ?? 'GET', path: received.path, body: received.body.toString('utf8'), headers: received.headers };
    const authorization = received.headers.authorization ?? '';
    try {
      if (!authorization.startsWith('AWS4-HMAC-SHA256 ')) {
        if (!verifier.acceptToken(authorization)) throw new Error('token refused');
        requests.push({ ...base, outcome: 'ok', authorization });
        return answer(res, 200, { ok: true, auth: 'token', path: received.path, body: base.body });
      }
      const { accessKeyId, roleArn } = await verify(req.method ?? 'GET', received);
      requests.push({ ...base, outcome: 'ok', accessKeyId, roleArn, authorization });
      return answer(res, 200, { ok: true, auth: 'sigv4', roleArn, path: received.path, body: base.body });
    } catch (error) {
      requests.push({ ...base, outcome: 'refused', reason: (error as Error).message, authorization });
      return answer(res, 403, { message: (error as Error).message });
    }
  }

  async function verify(method: string, request: { path: string; body: Buffer; headers: Record<string, string> }): Promise<{ accessKeyId: string; roleArn: string }> {
    const match = AUTHORIZATION.exec(request.headers.authorization ?? '');
    if (!match) throw new Error('malformed Authorization');
    const [, accessKeyId = '', , region = '', service = '', signedHeaders = '', signature = ''] = match;
    if (service !== expected.service || region !== expected.region) throw new Error(`scoped to ${service}/${region}`);
    const credentials = issued.lookupCredentials(accessKeyId);
    if (!credentials) throw new Error('unknown access key');
    if (request.headers['x-amz-security-token'] !== credentials.sessionToken) throw new Error('wrong session token');
    if (credentials.expiration.getTime() <= Date.now()) throw new Error('expired');
    const claimed = request.headers['x-amz-content-sha256'];
    if (claimed !== undefined && claimed !== createHash('sha256').update(request.body).digest('hex')) throw new Error('payload hash mismatch');
    const amzDate = request.headers['x-amz-date'] ?? '';
    const d = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amzDate);
    if (!d) throw new Error('no X-Amz-Date');
    const signingDate = new Date(Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(d[4]), Number(d[5]), Number(d[6])));
    if (Math.abs(signingDate.getTime() - Date.now()) > 15 * 60_000) throw new Error('signature expired');
    const names = signedHeaders.split(';');
    if (!names.includes('host')) throw new Error('host not signed');
    const headers: Record<string, string> = {};
    for (const name of names) if (request.headers[name] !== undefined) headers[name] = request.headers[name] as string;
    const [path = '/', rawQuery = ''] = request.path.split(/\?(.*)/s);
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(rawQuery)) {
      const seen = query[k];
      query[k] = seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v];
    }
    const signer = new SignatureV4({ service, region, credentials: { accessKeyId, secretAccessKey: credentials.secretKey, sessionToken: credentials.sessionToken }, sha256: Sha256, applyChecksum: false });
    const signed = await signer.sign(
      { method, protocol: 'http:', hostname: (headers.host ?? '').replace(/:\d+$/, ''), path, query, headers, body: request.body.length > 0 ? new Uint8Array(request.body) : undefined },
      { signingDate, signableHeaders: new Set(names) },
    );
    const recomputed = AUTHORIZATION.exec(String(signed.headers.authorization ?? ''));
    const mine = Buffer.from(recomputed?.[6] ?? '', 'hex');
    const theirs = Buffer.from(signature, 'hex');
    if (recomputed?.[5] !== signedHeaders || mine.length !== theirs.length || !timingSafeEqual(mine, theirs)) throw new Error('SignatureDoesNotMatch');
    return { accessKeyId, roleArn: credentials.roleArn };
  }

  (verifier as { url: string }).url = (await listen(server, '127.0.0.1', 0)).url;
  return verifier;
}

function headerValues(raw: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = (raw[i + 1] as string).trim().replace(/\s+/g, ' ');
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  return headers;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify(body));
}
