import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

/** What `request` sends, before and after signing. Header names lower-case. */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer | undefined;
}

export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** Where a SigV4 signature is scoped: the service's signing name and the region. */
export interface SigningScope {
  readonly service: string;
  readonly region: string;
}

const REGION = '([a-z]{2}(?:-[a-z]+)+-\\d+)';

/**
 * The signing scope an AWS host names, where it names one: API Gateway
 * (`ID.execute-api.REGION.amazonaws.com`), Lambda function URLs (`ID.lambda-url.REGION.on.aws`,
 * signed as `lambda`), and the regional `SERVICE.REGION.amazonaws.com` form. Custom domains
 * name nothing: --service and --region then.
 */
export function inferSigningScope(hostname: string): Partial<SigningScope> {
  const host = hostname.toLowerCase();
  const apiGateway = new RegExp(`^[a-z0-9]+\\.execute-api\\.${REGION}\\.amazonaws\\.com(?:\\.cn)?$`).exec(host);
  if (apiGateway) return { service: 'execute-api', region: apiGateway[1] as string };
  const vpcApi = new RegExp(`^[a-z0-9]+-vpce-[a-z0-9]+\\.execute-api\\.${REGION}\\.vpce\\.amazonaws\\.com$`).exec(host);
  if (vpcApi) return { service: 'execute-api', region: vpcApi[1] as string };
  const functionUrl = new RegExp(`^[a-z0-9]+\\.lambda-url\\.${REGION}\\.on\\.aws$`).exec(host);
  if (functionUrl) return { service: 'lambda', region: functionUrl[1] as string };
  const regional = new RegExp(`^(?:[a-z0-9-]+\\.)*?([a-z0-9-]+)(?:-fips)?\\.${REGION}\\.amazonaws\\.com(?:\\.cn)?$`).exec(host);
  if (regional) return { service: regional[1] as string, region: regional[2] as string };
  return {};
}

/**
 * Signs with the AWS SDK's own SigV4 signer (@smithy/signature-v4, the SDK's SHA-256),
 * as the SDK clients sign: every header given is signed, plus host, x-amz-date,
 * x-amz-security-token and x-amz-content-sha256 (the payload's hash, which S3 requires).
 * Returns the headers to send.
 */
export async function signRequest(request: OutgoingRequest, scope: SigningScope, credentials: SigningCredentials, signingDate?: Date): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: scope.service,
    region: scope.region,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken },
    sha256: Sha256,
    // S3 signs the path as sent; every other service escapes it once more (the SDK does the same).
    uriEscapePath: scope.service !== 's3',
  });
  const { url } = request;
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: url.pathname,
      query: queryOf(url),
      headers: { ...request.headers, host: url.host },
      body: request.body && request.body.length > 0 ? new Uint8Array(request.body) : undefined,
    },
    signingDate ? { signingDate } : {},
  );
  return Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

function queryOf(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return query;
}
