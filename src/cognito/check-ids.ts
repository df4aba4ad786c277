import { isBrokerError } from '../errors.js';
import { getJson, type HttpFetch, isRecord, postAmzJson } from './oauth-http.js';

/** What `init` checks, before it writes a profile naming them. */
export interface IdsToCheck {
  readonly region: string;
  readonly userPoolId: string;
  readonly clientId: string;
  readonly identityPoolId: string;
  /** endpoints.cognitoIdp / cognitoIdentity: an emulator or a VPC endpoint instead of AWS's. */
  readonly cognitoIdpEndpoint?: string | undefined;
  readonly cognitoIdentityEndpoint?: string | undefined;
}

export type IdField = 'userPoolId' | 'clientId' | 'identityPoolId';

/**
 * One id's check: `found` (the service knows it), `unknown` (the service says there is no
 * such thing), `unchecked` (no answer that tells: offline, a proxy, a 5xx).
 */
export interface IdCheck {
  readonly field: IdField;
  readonly outcome: 'found' | 'unknown' | 'unchecked';
  /** What was asked and what came back, for the user; never a secret (none is sent). */
  readonly detail: string;
}

/** A value no token or key ever has: sent where a call needs a token, to be refused. */
const PROBE_TOKEN = 'cognito-broker-init-check';

/**
 * Asks Cognito, without AWS credentials and without signing anyone in, whether each id
 * exists:
 * - the user pool: its public OpenID configuration and signing keys
 *   (`/<poolId>/.well-known/openid-configuration` and `jwks.json`), served for every pool
 *   and answered 400/404 for an unknown one;
 * - the app client: InitiateAuth REFRESH_TOKEN_AUTH with a refresh token that is not one:
 *   ResourceNotFoundException when there is no such client, another refusal (an invalid
 *   token, a secret hash, a flow not allowed) when there is;
 * - the identity pool: GetId with a login token that is not one: ResourceNotFoundException
 *   for an unknown pool (checked before the logins), NotAuthorizedException for a known one.
 *   A token is sent so that no unauthenticated identity is ever created.
 */
export async function checkCognitoIds(ids: IdsToCheck, fetchImpl?: HttpFetch): Promise<IdCheck[]> {
  const idp = (ids.cognitoIdpEndpoint ?? `https://cognito-idp.${ids.region}.amazonaws.com`).replace(/\/+$/, '');
  const identity = (ids.cognitoIdentityEndpoint ?? `https://cognito-identity.${ids.region}.amazonaws.com`).replace(/\/+$/, '');
  return Promise.all([checkUserPool(idp, ids.userPoolId, fetchImpl), checkClient(idp, ids.clientId, fetchImpl), checkIdentityPool(identity, ids, fetchImpl)]);
}

async function checkUserPool(idp: string, poolId: string, fetchImpl: HttpFetch | undefined): Promise<IdCheck> {
  const field = 'userPoolId';
  const base = `${idp}/${encodeURIComponent(poolId)}/.well-known`;
  return tryCheck(field, async () => {
    const config = await getJson(`${base}/openid-configuration`, { what: 'the user pool\'s OpenID configuration', fetch: fetchImpl });
    if (config.status >= 400 && config.status < 500) return { field, outcome: 'unknown', detail: `no user pool ${poolId} there: ${base}/openid-configuration answered HTTP ${config.status}${awsMessage(config.json)}` };
    if (config.status !== 200 || !isRecord(config.json)) return { field, outcome: 'unchecked', detail: `${base}/openid-configuration answered HTTP ${config.status}` };
    const keys = await getJson(`${base}/jwks.json`, { what: 'the user pool\'s signing keys', fetch: fetchImpl });
    if (keys.status >= 400 && keys.status < 500) return { field, outcome: 'unknown', detail: `no user pool ${poolId} there: ${base}/jwks.json answered HTTP ${keys.status}` };
    const found = keys.status === 200 && isRecord(keys.json) && Array.isArray(keys.json.keys) && keys.json.keys.length > 0;
    return found ? { field, outcome: 'found', detail: 'its OpenID configuration and signing keys are published' } : { field, outcome: 'unchecked', detail: `${base}/jwks.json answered HTTP ${keys.status} without keys` };
  });
}

async function checkClient(idp: string, clientId: string, fetchImpl: HttpFetch | undefined): Promise<IdCheck> {
  const field = 'clientId';
  return tryCheck(field, async () => {
    const answer = await postAmzJson(`${idp}/`, 'AWSCognitoIdentityProviderService.InitiateAuth', { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: clientId, AuthParameters: { REFRESH_TOKEN: PROBE_TOKEN } }, { what: 'the user pool (InitiateAuth)', fetch: fetchImpl });
    return classify(field, answer, `no app client ${clientId} in this region`, 'the user pool knows the app client');
  });
}

async function checkIdentityPool(identity: string, ids: IdsToCheck, fetchImpl: HttpFetch | undefined): Promise<IdCheck> {
  const field = 'identityPoolId';
  return tryCheck(field, async () => {
    const logins = { [`cognito-idp.${ids.region}.amazonaws.com/${ids.userPoolId}`]: PROBE_TOKEN };
    const answer = await postAmzJson(`${identity}/`, 'AWSCognitoIdentityService.GetId', { IdentityPoolId: ids.identityPoolId, Logins: logins }, { what: 'the identity pool (GetId)', fetch: fetchImpl });
    return classify(field, answer, `no identity pool ${ids.identityPoolId} in this region`, 'the identity pool exists');
  });
}

/** ResourceNotFoundException: unknown; any other 4xx refusal: found (the refusal was of the probe); else unchecked. */
function classify(field: IdField, answer: { status: number; json: unknown }, unknown: string, found: string): IdCheck {
  const type = isRecord(answer.json) && typeof answer.json.__type === 'string' ? answer.json.__type.replace(/^.*#/, '') : undefined;
  if (type === 'ResourceNotFoundException') return { field, outcome: 'unknown', detail: `${unknown}${awsMessage(answer.json)}` };
  if (answer.status >= 400 && answer.status < 500 && type !== undefined && !/Throttl|TooManyRequests|LimitExceeded/.test(type)) return { field, outcome: 'found', detail: found };
  if (answer.status === 200) return { field, outcome: 'found', detail: found };
  return { field, outcome: 'unchecked', detail: `HTTP ${answer.status}${type ? ` ${type}` : ''}` };
}

async function tryCheck(field: IdField, check: () => Promise<IdCheck>): Promise<IdCheck> {
  try {
    return await check();
  } catch (error) {
    return { field, outcome: 'unchecked', detail: isBrokerError(error) ? error.message : String(error) };
  }
}

/** Cognito's own words, short and without anything token-shaped (none was sent). */
function awsMessage(json: unknown): string {
  if (!isRecord(json)) return '';
  const message = typeof json.message === 'string' ? json.message : typeof json.Message === 'string' ? json.Message : undefined;
  return message ? ` ("${message.slice(0, 200).replace(/[\p{Cc}]/gu, ' ')}")` : '';
}
