/**
 * A Cognito user pool on 127.0.0.1, speaking the real wire protocol so the real
 * `@aws-sdk/client-cognito-identity-provider` works against it unchanged:
 *
 *   POST /   Content-Type: application/x-amz-json-1.1
 *            X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>
 *   200 + JSON output, or 4xx/5xx + {"__type": "NotAuthorizedException", "message": "..."}
 *
 * It covers what cognito-local cannot, after AWS's published API reference: USER_SRP_AUTH
 * (a wrong proof is refused), SECRET_HASH on every call of a client with a secret, every
 * MFA challenge (SMS, TOTP, email, the choice between them, TOTP enrolment),
 * NEW_PASSWORD_REQUIRED, remembered devices (ConfirmDevice, then DEVICE_SRP_AUTH instead of
 * MFA), GetTokensFromRefreshToken with refresh-token rotation and its grace period,
 * RevokeToken and GlobalSignOut; the managed login endpoints (/oauth2/authorize with PKCE,
 * /oauth2/token, /oauth2/revoke, /oauth2/userInfo) and the pool's /.well-known documents.
 * Tokens are RS256 JWTs with the pool's own key, so the identity pool emulator can trust
 * the pool as a provider.
 *
 * This file starts the server and holds the test hooks; each concern is a file of
 * user-pool/: the wire protocol (api-protocol.ts), clients and users (directory.ts),
 * signing in and its challenges (sign-in.ts, sessions.ts), SRP (srp-server.ts), TOTP
 * (totp.ts, totp-enrolment.ts), devices (devices.ts), tokens (token-service.ts, tokens.ts)
 * and the managed login (managed-login.ts).
 *
 * Test hooks: createClient, createUser, the codes "sent" by SMS and email, the current TOTP
 * code of a user, per-operation counters, an injectable clock and failNext.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listen } from '../http.js';
import { answerAwsJson, FaultQueue, type AwsJsonService, type EmulatorFault } from './aws-json-protocol.js';
import type { IdentityProviderConfig } from './identity-pool-emulator.js';
import { userPoolApi, UserPoolFault } from './user-pool/api-protocol.js';
import { DeviceOperations } from './user-pool/devices.js';
import { resolveLifetimes, UserDirectory } from './user-pool/directory.js';
import { createManagedLogin, type ManagedLogin } from './user-pool/managed-login.js';
import { MIXED_CASE_ALPHANUMERIC, randomId } from './user-pool/secrets.js';
import { AuthSessions } from './user-pool/sessions.js';
import { SignInFlow } from './user-pool/sign-in.js';
import { TokenService } from './user-pool/token-service.js';
import { TokenSigner } from './user-pool/tokens.js';
import { totpCode as computeTotp } from './user-pool/totp.js';
import { TotpEnrolment } from './user-pool/totp-enrolment.js';
import {
  DEFAULT_ACCESS_TOKEN_SECONDS,
  DEFAULT_ID_TOKEN_SECONDS,
  DEFAULT_MAX_CODE_ATTEMPTS,
  DEFAULT_REFRESH_TOKEN_SECONDS,
  DEFAULT_REGION,
  DEFAULT_SESSION_SECONDS,
  USER_POOL_OPERATIONS,
  type ApiOperation,
  type DeviceInfo,
  type SentMessage,
  type UserInfo,
  type UserPoolClientInfo,
  type UserPoolClientSpec,
  type UserPoolEmulator,
  type UserPoolEmulatorOptions,
  type UserPoolOperation,
  type UserSpec,
} from './user-pool/types.js';

export * from './user-pool/types.js';
export { UserPoolFault } from './user-pool/api-protocol.js';
export { secretHash } from './user-pool/secrets.js';
export { totpCode } from './user-pool/totp.js';

export async function startUserPoolEmulator(options: UserPoolEmulatorOptions = {}): Promise<UserPoolEmulator> {
  const emulator = new Emulator(options);
  await emulator.start(options.host ?? '127.0.0.1', options.port ?? 0);
  return emulator;
}

class Emulator implements UserPoolEmulator {
  readonly region: string;
  readonly userPoolId: string;
  readonly calls = Object.fromEntries(USER_POOL_OPERATIONS.map((op) => [op, 0])) as Record<UserPoolOperation, number>;
  readonly messages: SentMessage[] = [];
  url = '';
  port = 0;
  issuer = '';
  loginsKey = '';
  jwksUri = '';

  private readonly server: Server;
  private readonly now: () => number;
  private readonly directory: UserDirectory;
  private readonly sessions: AuthSessions;
  private readonly deviceUserPrompt: boolean;
  private readonly authorizationCodeSeconds: number | undefined;
  private readonly faults = new FaultQueue<UserPoolOperation>((type, message, status) => new UserPoolFault(type, message, status));
  /** What serves requests, once start() has made the pool's signing key. */
  private handlers: { api: AwsJsonService<ApiOperation>; managedLogin: ManagedLogin } | undefined;

  constructor(options: UserPoolEmulatorOptions) {
    this.region = options.region ?? DEFAULT_REGION;
    this.userPoolId = options.userPoolId ?? `${this.region}_${randomId(9, MIXED_CASE_ALPHANUMERIC)}`;
    const poolName = this.userPoolId.split('_')[1];
    if (!poolName) throw new Error(`userPoolId must look like <region>_<name>: ${this.userPoolId}`);
    this.now = options.now ?? Date.now;
    const deviceTracking = options.deviceTracking !== undefined && options.deviceTracking !== false;
    this.deviceUserPrompt = typeof options.deviceTracking === 'object' && options.deviceTracking.onlyRememberedOnUserPrompt === true;
    this.authorizationCodeSeconds = options.authorizationCodeSeconds;
    this.directory = new UserDirectory(
      poolName,
      deviceTracking,
      resolveLifetimes(options.lifetimes, {
        idTokenSeconds: DEFAULT_ID_TOKEN_SECONDS,
        accessTokenSeconds: DEFAULT_ACCESS_TOKEN_SECONDS,
        refreshTokenSeconds: DEFAULT_REFRESH_TOKEN_SECONDS,
      }),
    );
    this.sessions = new AuthSessions(
      () => this.now(),
      (options.sessionSeconds ?? DEFAULT_SESSION_SECONDS) * 1000,
      options.maxCodeAttempts ?? DEFAULT_MAX_CODE_ATTEMPTS,
    );
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(host: string, port: number): Promise<void> {
    ({ port: this.port, url: this.url } = await listen(this.server, host, port));
    this.issuer = `${this.url}/${this.userPoolId}`;
    this.loginsKey = this.issuer.replace(/^https?:\/\//, '');
    this.jwksUri = `${this.issuer}/.well-known/jwks.json`;
    const signer = await TokenSigner.create(this.issuer);
    const now = () => this.now();
    const tokens = new TokenService(this.directory, signer, this.region, now);
    const signIn = new SignInFlow(this.directory, this.sessions, tokens, this.messages, now);
    const totp = new TotpEnrolment(this.directory, this.sessions, tokens, now);
    const devices = new DeviceOperations(tokens, this.deviceUserPrompt);
    const api = userPoolApi(
      {
        InitiateAuth: (input) => signIn.initiateAuth(input),
        RespondToAuthChallenge: (input) => signIn.respondToAuthChallenge(input),
        AssociateSoftwareToken: (input) => totp.associateSoftwareToken(input),
        VerifySoftwareToken: (input) => totp.verifySoftwareToken(input),
        ConfirmDevice: (input) => devices.confirmDevice(input),
        UpdateDeviceStatus: (input) => devices.updateDeviceStatus(input),
        ForgetDevice: (input) => devices.forgetDevice(input),
        GetTokensFromRefreshToken: (input) => tokens.getTokensFromRefreshToken(input),
        RevokeToken: (input) => tokens.revokeToken(input),
        GlobalSignOut: (input) => tokens.globalSignOut(input),
        GetUser: (input) => tokens.getUser(input),
      },
      (operation) => this.count(operation),
    );
    const managedLogin = createManagedLogin({
      url: this.url,
      issuer: this.issuer,
      userPoolId: this.userPoolId,
      authorizationCodeSeconds: this.authorizationCodeSeconds,
      now,
      jwks: () => signer.jwks(),
      count: (endpoint) => this.count(endpoint),
      client: (clientId) => this.directory.clients.get(clientId),
      checkPassword: (username, password) => this.directory.checkPassword(username, password),
      issueTokens: (username, clientId) => tokens.issueForManagedLogin(username, clientId),
      refresh: (refreshToken, clientId) => tokens.refreshForManagedLogin(refreshToken, clientId),
      revoke: (token, clientId) => tokens.revokeRefreshToken(token, clientId),
      userInfo: (accessToken) => tokens.userInfo(accessToken),
    });
    this.handlers = { api, managedLogin };
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  // --- test hooks --------------------------------------------------------------------

  createClient(spec: UserPoolClientSpec = {}): UserPoolClientInfo {
    return this.directory.createClient(spec);
  }

  createUser(spec: UserSpec): UserInfo {
    return this.directory.createUser(spec);
  }

  lastCode(username: string, channel?: 'sms' | 'email'): string | undefined {
    for (let i = this.messages.length - 1; i >= 0; i -= 1) {
      const message = this.messages[i] as SentMessage;
      if (message.username === username && (channel === undefined || message.channel === channel)) return message.code;
    }
    return undefined;
  }

  totpCode(username: string, atMs = this.now()): string {
    const user = this.directory.users.get(username);
    const secret = user?.pendingTotpSecret ?? user?.totpSecret;
    if (!secret) throw new Error(`user ${username} has no TOTP secret`);
    return computeTotp(secret, atMs);
  }

  devices(username: string): readonly DeviceInfo[] {
    return this.directory.devices(username);
  }

  setUserEnabled(username: string, enabled: boolean): void {
    this.directory.setUserEnabled(username, enabled);
  }

  identityProvider(clientIds?: readonly string[]): IdentityProviderConfig {
    return { issuer: this.issuer, jwksUri: this.jwksUri, clientIds: clientIds ? [...clientIds] : this.directory.clientIds };
  }

  failNext(operation: UserPoolOperation, fault: EmulatorFault, times = 1): void {
    this.faults.add(operation, fault, times);
  }

  // --- HTTP ----------------------------------------------------------------------------

  /** Counts a request and throws the fault injected for it, if one is due. */
  private count(operation: UserPoolOperation): void {
    this.calls[operation] += 1;
    this.faults.throwIfDue(operation);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!this.handlers) {
      // A request in the moment between listening and having the pool's signing key.
      req.resume();
      res.writeHead(503).end();
      return;
    }
    if (path !== '/') {
      try {
        if (await this.handlers.managedLogin.handle(req, res)) return;
      } catch {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
        return;
      }
    }
    await answerAwsJson(req, res, this.handlers.api);
  }
}
