/**
 * A broker environment for developer-authenticated identities: the identity-pool emulator
 * with a developer provider, the STS stub, a private real Secret Service, and a config whose
 * profile signs in through the test backend (developer-backend.ts), which the test steers.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdentityPoolEmulator, type IdentityPoolEmulator } from '../../testkit/emulators/identity-pool-emulator.js';
import { startSecretService, type SecretService } from '../../testkit/secret-service.js';
import { startStsStub, type StsStub } from '../../testkit/emulators/sts-stub.js';
import { cliEnv } from './broker-env.js';
import { compiledPath } from './paths.js';

const BACKEND = compiledPath('test/support/developer-backend.ts');
export const DEVELOPER_PROVIDER_NAME = 'login.example.com';
export const DEVELOPER_ROLE_ARN = 'arn:aws:iam::123456789012:role/developer-users';

export interface BackendState {
  user: string;
  mode?: 'ok' | 'signed-out' | 'crash' | 'garbage' | 'leak-to-stderr';
  tokenDuration?: number;
}

export interface DeveloperEnv {
  readonly emulator: IdentityPoolEmulator;
  readonly sts: StsStub;
  readonly secretService: SecretService;
  readonly region: string;
  readonly configFile: string;
  /** What the CLI (and so the command it runs) sees. */
  readonly env: NodeJS.ProcessEnv;
  /** The developer's AWS secret key: a secret the broker never sees, checked for in logs all the same. */
  readonly developerSecret: string;
  setBackend(state: BackendState): void;
  /** One entry per run of the command: "interactive" (login) or "background". */
  runs(): string[];
  /** Every OpenID token the backend printed. */
  tokens(): string[];
  stop(): Promise<void>;
}

export async function startDeveloperEnv(options: { region?: string; profile?: Record<string, unknown>; backend?: BackendState } = {}): Promise<DeveloperEnv> {
  const region = options.region ?? 'eu-west-1';
  const dir = mkdtempSync(join(tmpdir(), 'cognito-broker-devid-'));
  const developerSecret = `dev-secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const developer = { providerName: DEVELOPER_PROVIDER_NAME, accessKeyId: 'AKIADEVELOPEREXAMPLE', secretKey: developerSecret, roleArns: [DEVELOPER_ROLE_ARN] };
  const emulator = await startIdentityPoolEmulator({ region, providers: {}, developer });
  // The basic flow's second step verifies the pool's own OpenID tokens, as IAM's provider for Cognito does.
  const sts = await startStsStub({ credentials: emulator, webIdentity: { verify: (token) => emulator.openId.verify(token, emulator.identityPoolId) } });
  const secretService = await startSecretService();
  const files = { state: join(dir, 'backend-state.json'), runs: join(dir, 'backend-runs'), tokens: join(dir, 'backend-tokens') };
  writeFileSync(files.runs, '');
  writeFileSync(files.tokens, '');
  const setBackend = (state: BackendState) => writeFileSync(files.state, JSON.stringify(state));
  setBackend(options.backend ?? { user: 'alice' });
  const configFile = join(dir, 'config.json');
  const profile = {
    region,
    identityPoolId: emulator.identityPoolId,
    developerIdentity: { command: [process.execPath, BACKEND], timeoutSeconds: 20 },
    endpoints: { cognitoIdentity: emulator.url },
    ...options.profile,
  };
  writeFileSync(configFile, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, profiles: { default: profile } }, null, 2));
  const env: NodeJS.ProcessEnv = {
    ...cliEnv(secretService, configFile, dir),
    BACKEND_ENDPOINT: emulator.url,
    BACKEND_ACCESS_KEY_ID: developer.accessKeyId,
    BACKEND_SECRET_KEY: developerSecret,
    BACKEND_PROVIDER: DEVELOPER_PROVIDER_NAME,
    BACKEND_STATE_FILE: files.state,
    BACKEND_RUNS_FILE: files.runs,
    BACKEND_TOKENS_FILE: files.tokens,
    NODE_NO_WARNINGS: '1',
  };
  const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  return {
    emulator,
    sts,
    secretService,
    region,
    configFile,
    env,
    developerSecret,
    setBackend,
    runs: () => lines(files.runs),
    tokens: () => lines(files.tokens),
    async stop() {
      await Promise.all([emulator.close(), sts.close(), secretService.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
