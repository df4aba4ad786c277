import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

/**
 * The HTTP requests this process has begun and not yet written out, through Node's HTTP
 * client (the AWS SDK) or its fetch (a token endpoint), seen on Node's diagnostics
 * channels while watching. serve loads fastify, which blocks the event loop for some tens
 * of milliseconds, once its first requests to Cognito are written (createDaemon's listen):
 * a request still looking up its host, connecting or in its TLS handshake needs the event
 * loop at each step, and would wait out the whole load.
 */
export class UnwrittenRequests {
  private readonly pending = new Set<object>();
  private waiters: (() => void)[] = [];
  private readonly subscriptions: [string, (message: unknown) => void][] = [
    ['http.client.request.start', (message) => this.httpRequest((message as { request: ClientRequest }).request)],
    ['undici:request:create', (message) => this.add((message as { request: object }).request)],
    // Written: its body is sent. Settled without that: an answer or an error.
    ...['undici:request:bodySent', 'undici:request:headers', 'undici:request:error'].map((name): [string, (message: unknown) => void] => [name, (message) => this.remove((message as { request: object }).request)]),
  ];

  watch(): void {
    for (const [name, listener] of this.subscriptions) diagnosticsChannel.subscribe(name, listener);
  }

  /** Stops watching; who waits in drained() is let go. */
  stop(): void {
    for (const [name, listener] of this.subscriptions) diagnosticsChannel.unsubscribe(name, listener);
    this.pending.clear();
    this.release();
  }

  /**
   * Resolves once no request begun while watching waits to be written. Looks a turn of the
   * event loop later: Node's HTTP client tells of a request on the tick after it is made.
   */
  async drained(): Promise<void> {
    await new Promise(setImmediate);
    if (this.pending.size === 0) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private httpRequest(request: ClientRequest): void {
    this.add(request);
    // 'finish': handed to the operating system. 'close' comes in every case, a failure too
    // (no 'error' listener here: one would change how the request's own failure is handled).
    const settle = () => this.remove(request);
    request.once('finish', settle);
    request.once('close', settle);
  }

  private add(request: object): void {
    this.pending.add(request);
  }

  private remove(request: object): void {
    if (!this.pending.delete(request) || this.pending.size > 0) return;
    this.release();
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
