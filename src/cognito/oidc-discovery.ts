import { isSecureUrl } from '../config/loopback.js';
import type { OidcConfig, ProfileConfig } from '../config/config.js';
import { BrowserLoginNotConfiguredError, UpstreamMalformedError, UpstreamRejectedError, UpstreamUnavailableError } from '../errors.js';
import { getJson, type HttpFetch, isRecord } from './oauth-http.js';

/** Where the authorization code flow, refreshes and sign-out go. */
export interface OAuthEndpoints {
  readonly authorization: string;
  readonly token: string;
  /** RFC 7009; absent when the provider offers none. */
  readonly revocation?: string | undefined;
}

/** OpenID Connect Discovery 1.0 section 4: the document lives under the issuer. */
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** Cognito's managed login: fixed paths under the domain (Cognito developer guide, "user pool endpoints"). */
export function hostedUiEndpoints(domain: string): OAuthEndpoints {
  const base = domain.replace(/\/+$/, '');
  return { authorization: `${base}/oauth2/authorize`, token: `${base}/oauth2/token`, revocation: `${base}/oauth2/revoke` };
}

/**
 * Reads the provider's discovery document and checks what the flow relies on: the issuer
 * named in it is exactly the configured one (OpenID Connect Discovery 1.0 section 4.3; a
 * document claiming another issuer is not this provider's), and the endpoints are https
 * (http only on this machine).
 */
export async function discoverOidcEndpoints(issuer: string, fetchImpl?: HttpFetch): Promise<OAuthEndpoints> {
  const url = `${issuer.replace(/\/+$/, '')}${DISCOVERY_PATH}`;
  const what = `the OpenID Connect provider's discovery document (${url})`;
  const { status, json } = await getJson(url, { what, fetch: fetchImpl });
  if (status >= 500 || status === 429) throw new UpstreamUnavailableError(`${capital(what)} answered HTTP ${status}; try again later.`);
  if (status !== 200) throw new UpstreamRejectedError(`${capital(what)} answered HTTP ${status}. Check oidc.issuer, or set oidc.endpoints for a provider without discovery.`);
  if (!isRecord(json)) throw new UpstreamMalformedError(`${capital(what)} is not a JSON object.`);
  if (json.issuer !== issuer) {
    throw new UpstreamRejectedError(
      `${capital(what)} names the issuer ${quote(json.issuer)}, not the configured ${quote(issuer)}; they must be identical (OpenID Connect Discovery 1.0, 4.3). Copy its issuer into oidc.issuer if that is the provider you mean, or set oidc.endpoints for a provider whose discovery document is wrong.`,
    );
  }
  return {
    authorization: endpoint(json, 'authorization_endpoint', what, true) as string,
    token: endpoint(json, 'token_endpoint', what, true) as string,
    revocation: endpoint(json, 'revocation_endpoint', what, false),
  };
}

function endpoint(document: Record<string, unknown>, field: string, what: string, required: boolean): string | undefined {
  const value = document[field];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || !isSecureUrl(value)) {
    throw new UpstreamMalformedError(
      `${capital(what)} has ${value === undefined ? `no ${field}` : `a ${field} that is not an https URL (${quote(value)})`}. Set oidc.endpoints in the config to name the provider's endpoints yourself.`,
    );
  }
  return value;
}

/**
 * Where a profile's browser sign-in and token calls go, read once and kept: the managed
 * login's fixed paths, or for an OIDC provider the configured endpoints, with discovery
 * only for what the config does not name. A failed discovery is not kept: the next call
 * tries again.
 */
export function createEndpointResolver(profile: ProfileConfig, fetchImpl?: HttpFetch): () => Promise<OAuthEndpoints> {
  let found: Promise<OAuthEndpoints> | undefined;
  return () => {
    found ??= resolveEndpoints(profile, fetchImpl).catch((error: unknown) => {
      found = undefined;
      throw error;
    });
    return found;
  };
}

async function resolveEndpoints(profile: ProfileConfig, fetchImpl?: HttpFetch): Promise<OAuthEndpoints> {
  if (profile.oidc) return oidcEndpoints(profile.oidc, fetchImpl);
  if (profile.hostedUi) return hostedUiEndpoints(profile.hostedUi.domain);
  throw new BrowserLoginNotConfiguredError(profile.name);
}

async function oidcEndpoints(oidc: OidcConfig, fetchImpl?: HttpFetch): Promise<OAuthEndpoints> {
  const configured = oidc.endpoints ?? {};
  // Both flow endpoints named: no discovery (revocation then only if named too).
  if (configured.authorization && configured.token) return { authorization: configured.authorization, token: configured.token, revocation: configured.revocation };
  const discovered = await discoverOidcEndpoints(oidc.issuer, fetchImpl);
  return {
    authorization: configured.authorization ?? discovered.authorization,
    token: configured.token ?? discovered.token,
    revocation: configured.revocation ?? discovered.revocation,
  };
}

/**
 * The identity pool's name for an OIDC provider: the provider name of the IAM OIDC identity
 * provider, i.e. the issuer's host and path without the scheme (and without a final "/").
 */
export function oidcLoginsKey(oidc: Pick<OidcConfig, 'issuer' | 'loginsKey'>): string {
  return oidc.loginsKey ?? oidc.issuer.replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
