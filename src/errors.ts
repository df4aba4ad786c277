/**
 * Every error cognito-broker reports, with a stable code, an HTTP status and whether
 * trying again later can help. docs/errors.md lists each code with what the user should
 * do; test/errors.test.ts keeps that list complete.
 *
 * Messages never carry a secret: they name files, fields, profiles and commands only.
 */
export abstract class BrokerError extends Error {
  abstract readonly code: string;
  readonly statusCode: number = 500;
  readonly retryable: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The body every HTTP error response carries, as the AWS SDKs expect it. */
  toJSON(): { Code: string; Message: string } {
    return { Code: this.code, Message: this.message };
  }
}

// --- configuration -------------------------------------------------------------------

export class ConfigNotFoundError extends BrokerError {
  readonly code = 'BRK_ERR_CONFIG_NOT_FOUND';
  constructor(readonly file: string) {
    super(`No config file at ${file}. Run \`cognito-broker init\` to write one (it asks for the user pool, app client and identity pool), or pass --config PATH (or set COGNITO_BROKER_CONFIG).`);
  }
}

export class ConfigInvalidError extends BrokerError {
  readonly code = 'BRK_ERR_CONFIG_INVALID';
  constructor(
    readonly file: string,
    readonly problems: readonly { path: string; expected: string }[],
  ) {
    super(`Invalid config in ${file}:\n${problems.map((p) => `  ${p.path}: ${p.expected}`).join('\n')}`);
  }
}

export class ConfigExistsError extends BrokerError {
  readonly code = 'BRK_ERR_CONFIG_EXISTS';
  constructor(readonly file: string, profile: string) {
    super(`A config file already exists at ${file}; nothing was written. \`cognito-broker init --force\` adds profile "${profile}" to it (replacing a profile of that name) and keeps everything else; or pass --config PATH to write another file.`);
  }
}

/** `init`: Cognito says an id names nothing; the config is not written. */
export class InitCheckFailedError extends BrokerError {
  readonly code = 'BRK_ERR_INIT_CHECK_FAILED';
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`Cognito does not know what the config would name, so nothing was written to ${file}:\n${problems.map((p) => `  ${p}`).join('\n')}\nCheck the ids and the region (Cognito console: User pools, App clients, Identity pools), or pass --no-check to write them unchecked.`);
  }
}

export class UnknownProfileError extends BrokerError {
  readonly code = 'BRK_ERR_UNKNOWN_PROFILE';
  override readonly statusCode = 404;
  constructor(readonly profile: string, known: readonly string[]) {
    super(`No profile named "${profile}". Profiles in the config: ${known.join(', ') || '(none)'}.`);
  }
}

// --- session ------------------------------------------------------------------------

export class NotSignedInError extends BrokerError {
  readonly code = 'BRK_ERR_NOT_SIGNED_IN';
  override readonly statusCode = 503;
  constructor(readonly profile: string) {
    super(`Profile "${profile}" is not signed in. Run: ${loginCommand(profile)}`);
  }
}

export class LoginRequiredError extends BrokerError {
  readonly code = 'BRK_ERR_LOGIN_REQUIRED';
  override readonly statusCode = 503;
  constructor(readonly profile: string, reason: string, options?: { cause?: unknown }) {
    super(`Profile "${profile}" must sign in again (${reason}). Run: ${loginCommand(profile)}`, options);
  }
}

export class SignInFailedError extends BrokerError {
  readonly code = 'BRK_ERR_SIGN_IN_FAILED';
  override readonly statusCode = 401;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class MfaCodeMismatchError extends BrokerError {
  readonly code = 'BRK_ERR_MFA_CODE_MISMATCH';
  override readonly statusCode = 401;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class ClientSecretError extends BrokerError {
  readonly code = 'BRK_ERR_CLIENT_SECRET';
  override readonly statusCode = 401;
  /** `missing`: the app client has a secret and none was sent; otherwise the one sent is wrong. */
  constructor(readonly missing: boolean, detail: string, options?: { cause?: unknown }) {
    super(
      `${missing ? 'The app client has a client secret and none was given' : 'The user pool refused the client secret'} (${detail}). Run login on a terminal to be asked for it, or set COGNITO_BROKER_CLIENT_SECRET for one non-interactive login; it is then kept in the OS keychain.`,
      options,
    );
  }
}

/** A sign-in refusal that keeps Cognito's error name, for sign-in to act on (ask a new password again). */
export class SignInRefusedError extends SignInFailedError {
  constructor(
    readonly awsName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The pool refused our remembered device during device authentication. */
export class DeviceRefusedError extends SignInFailedError {
  constructor(cause: BrokerError) {
    super(`The user pool refused the remembered device: ${cause.message}`, { cause });
  }
}

export class ChallengeUnsupportedError extends BrokerError {
  readonly code = 'BRK_ERR_CHALLENGE_UNSUPPORTED';
  constructor(readonly challenge: string) {
    super(`The user pool asked for the ${challenge} challenge, which this version of cognito-broker cannot answer.`);
  }
}

export class SrpUnsupportedError extends BrokerError {
  readonly code = 'BRK_ERR_SRP_UNSUPPORTED';
  override readonly statusCode = 502;
  /** `endpoint`: where the user pool was called (the profile's endpoints.cognitoIdp, or AWS). */
  constructor(endpoint: string, options?: { cause?: unknown }) {
    super(
      `The user pool at ${endpoint} says it does not implement SRP sign-in (USER_SRP_AUTH). Real Cognito never answers so; the password is not sent in its place to a server that is not on this machine. If you trust this endpoint with the password in plain text, sign in with --auth-flow user-password.`,
      options,
    );
  }
}

export class NoTerminalError extends BrokerError {
  readonly code = 'BRK_ERR_NO_TERMINAL';
  /** `alternative`: the non-interactive way to give it, e.g. 'pass --mfa-code CODE'. */
  constructor(what: string, alternative?: string) {
    const other = alternative ?? (what === 'the password' ? 'pass --password-stdin' : undefined);
    super(`Cannot ask for ${what}: standard input is not a terminal. Run the command in a terminal${other ? `, or ${other}` : ''}.`);
  }
}

// --- browser and OpenID Connect sign-in, sign-out -------------------------------------

export class BrowserLoginNotConfiguredError extends BrokerError {
  readonly code = 'BRK_ERR_BROWSER_LOGIN_NOT_CONFIGURED';
  constructor(readonly profile: string) {
    super(`Profile "${profile}" has no "hostedUi" (or "oidc") section: browser sign-in needs the managed login's domain and a redirect port. See config.example.json.`);
  }
}

export class BrowserLoginTimeoutError extends BrokerError {
  readonly code = 'BRK_ERR_BROWSER_LOGIN_TIMEOUT';
  constructor(seconds: number, redirectUri: string) {
    super(
      `No sign-in came back from the browser within ${seconds} s; gave up waiting at ${redirectUri}. Run the login again and finish it in the browser (if the page showed an error about the redirect or callback URL, that exact URL must be registered with the app client).`,
    );
  }
}

export class RedirectPortInUseError extends BrokerError {
  readonly code = 'BRK_ERR_REDIRECT_PORT_IN_USE';
  constructor(port: number, redirectUri: string) {
    super(
      `Cannot wait for the browser at ${redirectUri}: port ${port} on 127.0.0.1 is in use (another login still waiting?). Stop that process, or pick another redirectPort in the config and register the new URL with the app client.`,
    );
  }
}

export class RevocationFailedError extends BrokerError {
  readonly code = 'BRK_ERR_REVOCATION_FAILED';
  override readonly statusCode = 502;
  /** `what`: what did not happen and why; `advice`: how to end the still-valid token some other way. */
  constructor(readonly profile: string, what: string, advice: string, options?: { cause?: unknown }) {
    super(`Signed out locally (profile "${profile}" has nothing left in the keychain), but ${what}. ${advice}`, options);
  }
}

export class GlobalSignOutUnsupportedError extends BrokerError {
  readonly code = 'BRK_ERR_GLOBAL_SIGN_OUT_UNSUPPORTED';
  constructor(readonly profile: string) {
    super(`Profile "${profile}" signs in through an OpenID Connect provider, which has no global sign-out cognito-broker can call; nothing was changed. Run logout without --global to revoke this session, and sign out everywhere at the provider.`);
  }
}

// --- keychain -----------------------------------------------------------------------

/** Which store a KeychainUnavailableError is about: the config's "secretStore" (docs/config.md). */
export type SecretStoreChoice = 'keychain' | 'kernel' | 'file';

/**
 * The secret store cannot be read or written. Kept under one code whatever the store (the
 * broker treats them alike: serve from memory, retry); the message says what to do for the
 * store in use, and for the OS keychain names the other choices of "secretStore".
 */
export class KeychainUnavailableError extends BrokerError {
  readonly code = 'BRK_ERR_KEYCHAIN_UNAVAILABLE';
  override readonly statusCode = 503;
  override readonly retryable = true;
  constructor(detail: string, options?: { cause?: unknown; store?: SecretStoreChoice }) {
    super(unavailableMessage(detail, options?.store ?? 'keychain'), options);
  }
}

function unavailableMessage(detail: string, store: SecretStoreChoice): string {
  switch (store) {
    case 'kernel':
      return `The Linux kernel keyring ("secretStore": "kernel") cannot be used (${detail}). It needs a session keyring, which a login through PAM (SSH, console) has and a container shell, docker exec or a CI job lacks: start one with \`keyctl session\` (package keyutils) and run cognito-broker from that shell, or prefix each command: keyctl session - cognito-broker ... Where the keyring calls are blocked (Docker's default seccomp profile), set "secretStore": "file" instead (docs/config.md).`;
    case 'file':
      return `The secret file store ("secretStore": "file") cannot be read or written (${detail}). Check that the state directory is yours and not full, then try again.`;
    default:
      return `The OS keychain is locked or unavailable (${detail}). Unlock it (on Linux: a running Secret Service such as gnome-keyring or KeePassXC, unlocked), then try again. On a machine without one (a headless box, WSL, a container, CI), set "secretStore" in the config to "kernel" (the Linux kernel keyring, until reboot) or "file" (a 0600 file under the state directory); see docs/config.md.`;
  }
}

export class KeychainEntryCorruptError extends BrokerError {
  readonly code = 'BRK_ERR_KEYCHAIN_ENTRY_CORRUPT';
  override readonly statusCode = 503;
  constructor(readonly account: string, readonly detail: string) {
    super(`The keychain entry "${account}" cannot be read back (${detail}).`);
  }
}

export class StoredSessionInvalidError extends BrokerError {
  readonly code = 'BRK_ERR_STORED_SESSION_INVALID';
  override readonly statusCode = 503;
  constructor(readonly profile: string, detail: string) {
    super(`The keychain entry for profile "${profile}" cannot be used (${detail}). Run: ${loginCommand(profile)}`);
  }
}

export class RefreshLockTimeoutError extends BrokerError {
  readonly code = 'BRK_ERR_REFRESH_LOCK_TIMEOUT';
  override readonly statusCode = 503;
  override readonly retryable = true;
  /** `holder`: what the lock file says of the process holding it (its pid), when it says. */
  constructor(readonly profile: string, holder: string, waitMs: number) {
    super(
      `Another cognito-broker process (${holder}) is refreshing profile "${profile}" and has held its refresh lock for ${Math.round(Number(waitMs) / 1000)} s; the refresh token is not sent twice at once. Retrying with backoff; if that process hangs, stop it.`,
    );
  }
}

// --- upstream (Cognito) -------------------------------------------------------------

export class UpstreamUnavailableError extends BrokerError {
  readonly code = 'BRK_ERR_UPSTREAM_UNAVAILABLE';
  override readonly statusCode = 503;
  override readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class UpstreamRejectedError extends BrokerError {
  readonly code = 'BRK_ERR_UPSTREAM_REJECTED';
  override readonly statusCode = 502;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The server does not implement what we asked (an operation, or a flow of InitiateAuth):
 * only emulators say so (cognito-local answers USER_SRP_AUTH this way); real Cognito refuses
 * a disabled flow with InvalidParameterException instead.
 */
export class UnsupportedByServerError extends UpstreamRejectedError {
  constructor(
    readonly api: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An identity-pool error whose meaning the broker acts on (drop the IdentityId, refresh the ID token). */
export class IdentityPoolError extends UpstreamRejectedError {
  constructor(
    readonly awsName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The OAuth provider refused the client itself (invalid_client, unauthorized_client): a missing or wrong secret, or a client not allowed the grant. */
export class OAuthClientRefusedError extends UpstreamRejectedError {
  constructor(
    /** The OAuth error and its description, as the provider said them (scrubbed). */
    readonly said: string,
    message: string,
  ) {
    super(message);
  }
}

export class UpstreamMalformedError extends BrokerError {
  readonly code = 'BRK_ERR_UPSTREAM_MALFORMED';
  override readonly statusCode = 502;
  override readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class CredentialsPendingError extends BrokerError {
  readonly code = 'BRK_ERR_CREDENTIALS_PENDING';
  override readonly statusCode = 503;
  override readonly retryable = true;
  constructor(readonly profile: string) {
    super(`Credentials for profile "${profile}" are being fetched from Cognito and were not ready in time. Try again in a moment.`);
  }
}

// --- HTTP ---------------------------------------------------------------------------

export class UnauthorizedError extends BrokerError {
  readonly code = 'BRK_ERR_UNAUTHORIZED';
  override readonly statusCode = 401;
  constructor() {
    super('Missing or wrong Authorization header. Send the token from AWS_CONTAINER_AUTHORIZATION_TOKEN (see: cognito-broker env).');
  }
}

export class TokenScopeError extends BrokerError {
  readonly code = 'BRK_ERR_TOKEN_SCOPE';
  override readonly statusCode = 403;
  /** `opens`: what the presented token is for; `wanted`: what the request asked for. */
  constructor(opens: string, wanted: string) {
    super(`This token opens ${opens} only, not ${wanted}. For another profile, or a profile's ID token, get a token for it: cognito-broker env --profile P [--with-id-token].`);
  }
}

export class ForbiddenRequestError extends BrokerError {
  readonly code = 'BRK_ERR_FORBIDDEN_REQUEST';
  override readonly statusCode = 403;
  constructor(reason: string) {
    super(`Request refused: ${reason}.`);
  }
}

export class RouteNotFoundError extends BrokerError {
  readonly code = 'BRK_ERR_ROUTE_NOT_FOUND';
  override readonly statusCode = 404;
  constructor(method: string, path: string) {
    super(`No route ${method} ${path}. Routes: GET /credentials, GET /token, GET /profiles/:name/credentials, GET /profiles/:name/token, GET /status, POST /child-tokens, GET /proof, GET /healthz.`);
  }
}

export class BadRequestError extends BrokerError {
  readonly code = 'BRK_ERR_BAD_REQUEST';
  override readonly statusCode = 400;
  constructor(message: string) {
    super(message);
  }
}

// --- daemon -------------------------------------------------------------------------

export class DaemonNotRunningError extends BrokerError {
  readonly code = 'BRK_ERR_DAEMON_NOT_RUNNING';
  constructor(url: string) {
    super(`No cognito-broker answers at ${url}. Start it with: cognito-broker serve`);
  }
}

/** An error the daemon answered with: its code and message, as it gave them. */
export class DaemonReportedError extends BrokerError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export class DaemonMismatchError extends BrokerError {
  readonly code = 'BRK_ERR_DAEMON_MISMATCH';
  constructor(url: string, pid: number, reason: string) {
    super(`The cognito-broker at ${url} (pid ${pid}) is not the one for this config: ${reason}. Restart it with this config (cognito-broker serve, or: cognito-broker service install), or pass the --config it runs with.`);
  }
}

export class DaemonUntrustedError extends BrokerError {
  readonly code = 'BRK_ERR_DAEMON_UNTRUSTED';
  /** `what`: what was found at the address (another user's process, a listener without the proof). */
  constructor(url: string, what: string) {
    super(`The listener at ${url} is not your cognito-broker daemon: ${what}. No token was sent to it. Stop that process or pick another server.port, start yours (cognito-broker serve), and if SDKs or shells may have sent it the endpoint token while your daemon was down, run: cognito-broker rotate-token`);
  }
}

export class ServiceUnsupportedError extends BrokerError {
  readonly code = 'BRK_ERR_SERVICE_UNSUPPORTED';
  constructor(platform: string) {
    super(`cognito-broker service knows systemd (Linux) and launchd (macOS), not ${platform}. See docs/commands.md, service (on Windows: a Task Scheduler task at logon).`);
  }
}

export class PortInUseError extends BrokerError {
  readonly code = 'BRK_ERR_PORT_IN_USE';
  constructor(host: string, port: number) {
    super(`Port ${port} on ${host} is already in use (another cognito-broker serve?). Stop it, or set server.port in the config.`);
  }
}

export class PortHeldByOtherUserError extends BrokerError {
  readonly code = 'BRK_ERR_PORT_HELD_BY_OTHER_USER';
  /** `owner`: "uid 1001 (alice)". */
  constructor(address: string, port: number, owner: string) {
    super(
      `Port ${port} on ${address} is held by another user's process (${owner}). SDKs and shells pointed at this port may have sent it the endpoint token while cognito-broker was not running: run cognito-broker rotate-token (then eval "$(cognito-broker env)" again in open shells). Then stop that process (ask its owner or an administrator), or set another server.port.`,
    );
  }
}

export class InsecurePathError extends BrokerError {
  readonly code = 'BRK_ERR_INSECURE_PATH';
  constructor(readonly path: string, reason: string) {
    super(
      `Refusing to keep the endpoint token at ${path}: ${reason}. Another user could read or replace it. Use a directory only you can write (the default server.tokenFile is in your state directory), or fix the owner and mode.`,
    );
  }
}

// --- containers ---------------------------------------------------------------------

export class ContainersNotConfiguredError extends BrokerError {
  readonly code = 'BRK_ERR_CONTAINERS_NOT_CONFIGURED';
  override readonly statusCode = 409;
  constructor() {
    super('The daemon serves no containers: server.containers is not in its config, or it started before it was added. Run: cognito-broker docker setup, then restart serve (or: cognito-broker service install).');
  }
}

export class ContainerTokenNotFoundError extends BrokerError {
  readonly code = 'BRK_ERR_CONTAINER_TOKEN_NOT_FOUND';
  override readonly statusCode = 404;
  constructor(id: string) {
    super(`No container token with id "${id}" (revoked already, or ended by rotate-token). List them with: cognito-broker docker ls`);
  }
}

export class RelativeUriUnavailableError extends BrokerError {
  readonly code = 'BRK_ERR_RELATIVE_URI_UNAVAILABLE';
  override readonly statusCode = 409;
  /** `why`: what the daemon reported about port 80 on the container address. */
  constructor(address: string, why: string) {
    super(`RELATIVE_URI clients need port 80 on ${address}, which the daemon does not hold (${why}). Give it the right to bind port 80 (docs/containers.md, "Older SDKs"), use the relay (cognito-broker docker setup --relay), or use FULL_URI, without --relative-uri.`);
  }
}

export class DockerFailedError extends BrokerError {
  readonly code = 'BRK_ERR_DOCKER';
  override readonly statusCode = 502;
  /** `command`: what was run, never with a token; `output`: the end of what docker said. */
  constructor(command: string, output: string) {
    super(`\`${command}\` failed: ${String(output).trim().slice(-500) || 'no output'}. Is Docker installed and running, and may you use it (the docker group)?`);
  }
}

export class DockerNetworkConflictError extends BrokerError {
  readonly code = 'BRK_ERR_DOCKER_NETWORK_CONFLICT';
  override readonly statusCode = 409;
  constructor(network: string, found: string, wanted: string) {
    super(`A Docker network named "${network}" exists with ${found}, not ${wanted}. Remove it (cognito-broker docker teardown, or docker network rm ${network}) and run docker setup again.`);
  }
}

// --- command line -------------------------------------------------------------------

/** A command given options it cannot use: the message and "See --help", exit code 2. */
export class UsageError extends BrokerError {
  readonly code = 'BRK_ERR_USAGE';
  override readonly statusCode = 400;
}

// --- request ------------------------------------------------------------------------

export class RequestFailedError extends BrokerError {
  readonly code = 'BRK_ERR_REQUEST_FAILED';
  override readonly statusCode = 502;
  /** `reason`: a system error code or "no answer in time"; never the request, whose headers carry credentials. */
  constructor(origin: string, reason: string) {
    super(`\`cognito-broker request\` got no response from ${origin}: ${reason}.`);
  }
}

export class InternalError extends BrokerError {
  readonly code = 'BRK_ERR_INTERNAL';
  constructor(message = 'Internal error; see the broker log.', options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function isBrokerError(value: unknown): value is BrokerError {
  return value instanceof BrokerError;
}

/** The command that signs the profile in again, as every message that asks for it names it. */
export function loginCommand(profile: string): string {
  return profile === 'default' ? 'cognito-broker login' : `cognito-broker login --profile ${profile}`;
}
