import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ContainerTokenRecord } from '../store/container-token-registry.js';

/**
 * What a token presented in `Authorization` opens.
 *
 * - `master`: the value of the token file (server.tokenFile). Held by the user's own CLI and
 *   daemon; opens every route of every profile.
 * - `profile`: derived from the master for one profile (`env --profile P`, `serve`'s lines):
 *   that profile's credentials, and its ID token only when asked for (`--with-id-token`).
 * - `child`: random, registered by the master's holder for one process's lifetime (`exec`):
 *   the same rights as a profile token, gone when the registration ends.
 * - `container`: opens one profile, and only on the container listener (the others refuse
 *   it, as the container listener refuses every other kind). Long-lived ones (`docker env`)
 *   are derived from the master and a registry record; `docker run`'s are random and
 *   registered like a child's, for the run's lifetime.
 */
export interface TokenScope {
  readonly kind: TokenKind;
  /** The one profile a profile, child or container token opens; undefined for the master. */
  readonly profile?: string;
  /** Also the profile's /token (ID and access tokens, which can change the user's account). */
  readonly idToken: boolean;
  /**
   * A container token presented as the URL path (/v2/credentials/<token>), not in
   * Authorization: RELATIVE_URI clients send no header. Each works only the way it was made.
   */
  readonly inPath?: boolean;
  /** The registry id of a long-lived container token. */
  readonly id?: string;
}

export type TokenKind = 'master' | 'profile' | 'child' | 'container';

export const MASTER_SCOPE: TokenScope = Object.freeze({ kind: 'master', idToken: true });

/** 256 random bits, hex: the master token, a child token and a proof nonce all have this form. */
export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

// Domain separation: a proof over a nonce can never equal a profile token, whatever the nonce.
const PROFILE_LABEL = 'cognito-broker endpoint token v1\nprofile\n';
const PROOF_LABEL = 'cognito-broker daemon proof v1\n';
const CONTAINER_LABEL = 'cognito-broker endpoint token v1\ncontainer\n';
const FINGERPRINT_LABEL = 'cognito-broker master fingerprint v1';

/**
 * The token for one profile, derived from the master by HMAC-SHA256: stateless (the daemon
 * computes the same at every start, so open shells keep working across restarts) and
 * changed by a rotation of the master, like everything derived from it.
 */
export function deriveProfileToken(master: string, profile: string, idToken: boolean): string {
  return createHmac('sha256', master).update(`${PROFILE_LABEL}${profile}\n${idToken ? 'credentials+id-token' : 'credentials'}`).digest('hex');
}

/** A long-lived container token: HMAC of the master over the record's id and what it opens. */
export function deriveContainerToken(master: string, record: Pick<ContainerTokenRecord, 'id' | 'profile' | 'idToken' | 'mode'>): string {
  return createHmac('sha256', master).update(`${CONTAINER_LABEL}${record.id}\n${record.profile}\n${record.idToken ? 'credentials+id-token' : 'credentials'}\n${record.mode}`).digest('hex');
}

/** Names a master without revealing it: container token records carry it, so another master ignores them. */
export function masterFingerprint(master: string): string {
  return createHmac('sha256', master).update(FINGERPRINT_LABEL).digest('hex').slice(0, 16);
}

/**
 * The daemon's answer to a client's challenge: only a holder of the master can compute it,
 * and it reveals nothing of the master. The nonce is the client's, fresh each time, so an
 * answer seen once is worth nothing later.
 */
export function daemonProof(master: string, nonce: string): string {
  return createHmac('sha256', master).update(`${PROOF_LABEL}${nonce}`).digest('hex');
}

/** Whether `proof` is the right answer to `nonce` for this master; in constant time. */
export function isDaemonProof(master: string, nonce: string, proof: unknown): boolean {
  if (typeof proof !== 'string' || !TOKEN_PATTERN.test(proof)) return false;
  return timingSafeEqual(Buffer.from(daemonProof(master, nonce)), Buffer.from(proof));
}

/**
 * The daemon's side: which scope a presented token has. Every known token is kept by the
 * SHA-256 of its value, and a presented value is hashed before the lookup, so neither the
 * lookup's timing nor the presented length tells anything about a real token.
 */
export class EndpointAuth {
  #master: string;
  #derived = new Map<string, TokenScope>();
  readonly #children = new Map<string, { readonly scope: TokenScope; count: number }>();
  #containerRecords: readonly ContainerTokenRecord[] = [];

  constructor(master: string, private readonly profiles: readonly string[]) {
    this.#master = master;
    this.#derive();
  }

  /** The master changed (a rotation): every token derived from the old one stops working. */
  setMaster(master: string): void {
    if (master === this.#master) return;
    this.#master = master;
    this.#derive();
  }

  /** The fingerprint container token records made now carry. */
  get masterFingerprint(): string {
    return masterFingerprint(this.#master);
  }

  /** The long-lived container tokens: these records' (made under the current master), and no others. */
  setContainerTokens(records: readonly ContainerTokenRecord[]): void {
    this.#containerRecords = [...records];
    this.#derive();
  }

  /** The token of a record (made under the current master), for the one who asked for it. */
  containerToken(record: ContainerTokenRecord): string {
    return deriveContainerToken(this.#master, record);
  }

  /** The scope of a presented Authorization value; undefined for an unknown one. */
  scopeOf(presented: string | undefined): TokenScope | undefined {
    if (presented === undefined) return undefined;
    const key = digest(presented);
    return this.#derived.get(key) ?? this.#children.get(key)?.scope;
  }

  /** The answer to GET /proof?nonce=N; undefined for a malformed nonce. */
  proof(nonce: string): string | undefined {
    return TOKEN_PATTERN.test(nonce) ? daemonProof(this.#master, nonce) : undefined;
  }

  /**
   * Opens `scope` to `token` until the returned function is called. Registrations of the
   * same value stack (a reconnecting `exec` may register again before its old connection is
   * seen closed): the token works until the last one ends.
   */
  registerChild(token: string, scope: Omit<TokenScope, 'kind'> & { readonly kind?: 'child' | 'container' }): () => void {
    const key = digest(token);
    const entry = this.#children.get(key) ?? { scope: Object.freeze({ ...scope, kind: scope.kind ?? 'child' }), count: 0 };
    entry.count += 1;
    this.#children.set(key, entry);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.count -= 1;
      if (entry.count === 0 && this.#children.get(key) === entry) this.#children.delete(key);
    };
  }

  #derive(): void {
    const derived = new Map<string, TokenScope>([[digest(this.#master), MASTER_SCOPE]]);
    for (const profile of this.profiles) {
      for (const idToken of [false, true]) {
        derived.set(digest(deriveProfileToken(this.#master, profile, idToken)), Object.freeze({ kind: 'profile', profile, idToken }));
      }
    }
    const fingerprint = masterFingerprint(this.#master);
    for (const record of this.#containerRecords) {
      if (record.master !== fingerprint || !this.profiles.includes(record.profile)) continue;
      const scope: TokenScope = { kind: 'container', profile: record.profile, idToken: record.idToken, inPath: record.mode === 'relative-uri', id: record.id };
      derived.set(digest(deriveContainerToken(this.#master, record)), Object.freeze(scope));
    }
    this.#derived = derived;
  }
}

/** What the route needs: a profile's credentials, or its ID and access tokens. */
export type ScopeNeed = { readonly profile: string; readonly what: 'credentials' | 'token' } | { readonly what: 'master' };

/** Whether `scope` opens `need`. */
export function allows(scope: TokenScope, need: ScopeNeed): boolean {
  if (scope.kind === 'master') return true;
  if (need.what === 'master') return false;
  return scope.profile === need.profile && (need.what === 'credentials' || scope.idToken);
}

/** "the credentials of profile "work"", for the 403 that says what a token is for. */
export function describeScope(scope: TokenScope): string {
  if (scope.kind === 'master') return 'every route';
  const what = scope.idToken ? 'the credentials and the ID token' : 'the credentials';
  const note = scope.kind === 'child' ? ' (for one process, while it runs)' : scope.kind === 'container' ? ' (for containers)' : '';
  return `${what} of profile "${scope.profile}"${note}`;
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64');
}
