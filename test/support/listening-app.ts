/** buildApp on a real socket (127.0.0.1, a free port), with a ready session on fake Cognito. */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Broker } from '../../src/broker/broker.js';
import { createLogger } from '../../src/log/create-logger.js';
import { buildApp } from '../../src/server/build-app.js';
import { EndpointAuth } from '../../src/server/endpoint-auth.js';
import { createHarness, type Harness, LogCapture } from './session-harness.js';

export const TOKEN = 'c0ffee'.repeat(10) + 'abcd';

export interface ListeningApp {
  readonly h: Harness;
  readonly app: FastifyInstance;
  readonly logs: LogCapture;
  readonly port: number;
  /** `Host: 127.0.0.1:<port>`, the header an SDK sends. */
  readonly host: string;
  close(): Promise<void>;
}

export async function listenApp(options: { host?: string } = {}): Promise<ListeningApp> {
  const h = await createHarness();
  const broker = new Broker({ defaultProfile: 'default' }, [h.session]);
  const logs = new LogCapture();
  const app = buildApp({ broker, auth: new EndpointAuth(TOKEN, ['default']), logger: createLogger({ level: 'trace', destination: logs }), host: options.host });
  h.session.start();
  await h.clock.advance(10);
  await app.listen({ host: '127.0.0.1', port: 0, listenTextResolver: () => '' });
  const port = (app.server.address() as AddressInfo).port;
  return {
    h,
    app,
    logs,
    port,
    host: `Host: 127.0.0.1:${port}`,
    async close() {
      h.session.stop();
      await app.close();
    },
  };
}
