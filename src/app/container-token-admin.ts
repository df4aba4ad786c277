import { randomBytes } from 'node:crypto';
import type { ContainerAdmin, ContainerListenerState, ContainerTokenSpec } from '../server/container-routes.js';
import type { EndpointAuth } from '../server/endpoint-auth.js';
import { type ContainerTokenRecord, readContainerTokens, writeContainerTokens } from '../store/container-token-registry.js';

/**
 * The long-lived container tokens (`docker env`): the daemon keeps their records in the
 * registry file (no secret in it) and is its only writer while it runs, so a token made or
 * revoked through it works, or stops working, at once. Records made under another master
 * (before a rotate-token) open nothing and are dropped at the next write.
 */
export class ContainerTokenAdmin implements ContainerAdmin {
  #records: ContainerTokenRecord[] = [];
  #loading: Promise<void> | undefined;
  /** Writes one after another: each writes the whole list. */
  #writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly auth: EndpointAuth,
    private readonly listeners: () => ContainerListenerState,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the registry (once); before the loopback listener takes any request. */
  load(): Promise<void> {
    return (this.#loading ??= readContainerTokens(this.file).then((records) => {
      this.#records = records;
      this.auth.setContainerTokens(records);
    }));
  }

  state(): ContainerListenerState {
    return this.listeners();
  }

  tokens(): readonly ContainerTokenRecord[] {
    const current = this.auth.masterFingerprint;
    return this.#records.filter((r) => r.master === current);
  }

  async create(spec: ContainerTokenSpec): Promise<{ record: ContainerTokenRecord; token: string }> {
    await this.load();
    const record: ContainerTokenRecord = {
      id: randomBytes(8).toString('hex'),
      profile: spec.profile,
      idToken: spec.idToken,
      mode: spec.mode,
      ...(spec.name !== undefined ? { name: spec.name } : {}),
      createdAt: new Date(this.now()).toISOString(),
      master: this.auth.masterFingerprint,
    };
    await this.#update((records) => [...records, record]);
    return { record, token: this.auth.containerToken(record) };
  }

  async revoke(id: string): Promise<boolean> {
    await this.load();
    if (!this.tokens().some((r) => r.id === id)) return false;
    // It stops working now, even if the write below fails.
    this.auth.setContainerTokens(this.#records.filter((r) => r.id !== id));
    await this.#update((records) => records.filter((r) => r.id !== id));
    return true;
  }

  /** Writes the new list first, then serves it: a token is never handed out that a restart would forget. */
  async #update(change: (records: readonly ContainerTokenRecord[]) => ContainerTokenRecord[]): Promise<void> {
    const next = this.#writing.then(async () => {
      const current = this.auth.masterFingerprint;
      const records = change(this.#records.filter((r) => r.master === current));
      await writeContainerTokens(this.file, records);
      this.#records = records;
      this.auth.setContainerTokens(records);
    });
    this.#writing = next.catch(() => undefined);
    await next;
  }
}
