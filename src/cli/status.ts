import { parseArgs } from 'node:util';
import type { ProfileStatus } from '../broker/profile-session.js';
import type { Config, ProfileConfig } from '../config/config.js';
import type { SecretStore } from '../store/secret-store.js';
import { isBrokerError } from '../errors.js';
import { loadCliConfig, pickProfile } from './cli-context.js';
import { openSecretStore } from '../app/open-secret-store.js';
import { type CliIo, processIo } from './cli-io.js';
import { findDaemon } from './daemon-client.js';
import { STATUS_EXIT } from './status-exit.js';

export const STATUS_HELP = `Usage: cognito-broker status [--profile P] [--json | --table | --prompt] [--config PATH]

Says, for each profile (or the one named), what the broker is doing: its state, the user
signed in, the IdentityId, when the ID token and the AWS credentials expire, the last
refresh and the last error, and how many calls it made to Cognito. With the daemon
running this is the daemon's (GET /status): whose session it holds and how it is doing,
even when this shell cannot read the keychain itself (a separate note says so, and it does
not change the exit code). Without a daemon, it comes from the keychain alone (signed in or
not, as whom, since when, how, and the IdentityId once one was learned), with the state
"daemon-not-running".

A table on a terminal; JSON otherwise (or with --json), in the shape docs/commands.md documents.
Nothing secret is shown.

Exit codes: 0 every profile shown is ready (ready or refreshing-ahead); 3 a profile needs
'cognito-broker login' (not signed in, login required, unusable keychain entry); 4 the
daemon is not running (and no login is needed); 5 a profile is starting, refreshing or
degraded (Cognito failing; still-valid credentials are served); 1 another error.

  --profile P     only this profile
  --json          JSON even on a terminal
  --table         the table even when not on a terminal
  --prompt        one short line for a shell prompt, from the daemon's file alone (see
                  'cognito-broker status --prompt --help')
  --config PATH   config file (default: COGNITO_BROKER_CONFIG, else the platform's config dir)`;

export { STATUS_EXIT };

/** One profile in `status --json`. Every key is always present; null when not known. */
export interface ProfileReport {
  readonly profile: string;
  /** The daemon's phase, or 'daemon-not-running'. */
  readonly state: ProfileStatus['phase'] | 'daemon-not-running';
  readonly signedIn: boolean | null;
  readonly user: string | null;
  readonly signInMethod: string | null;
  readonly signedInAt: string | null;
  readonly signInFrom: string | null;
  readonly customRoleArn: string | null;
  readonly identityId: string | null;
  readonly idTokenExpiresAt: string | null;
  readonly credentialsExpireAt: string | null;
  readonly lastRefreshAt: string | null;
  readonly retryAt: string | null;
  readonly lastError: { readonly code: string; readonly message: string } | null;
  readonly upstreamCalls: { readonly refresh: number; readonly getId: number; readonly getCredentials: number } | null;
  /** Where the session is kept: the daemon's store when it answers, else this shell's. */
  readonly secretStore: string | null;
  /**
   * What this shell could not read (its own keychain) while the daemon answered: the
   * daemon's state stands, and this does not change the exit code.
   */
  readonly shellError: { readonly code: string; readonly message: string } | null;
}

export interface StatusReport {
  readonly daemon: { readonly running: true; readonly url: string; readonly pid: number } | { readonly running: false; readonly reason: string };
  readonly defaultProfile: string;
  readonly profiles: readonly ProfileReport[];
  /** Where this config keeps secrets ("secretStore"), in words: plainly a file when it is one. */
  readonly secretStore?: { readonly kind: string; readonly description: string };
}

export interface StatusOptions {
  /** Whether stdout is a terminal (the table) or not (JSON). */
  readonly isTty?: boolean;
}

export async function status(argv: string[], io: CliIo = processIo, options: StatusOptions = {}): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      table: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const config = await loadCliConfig(values);
  const profiles = values.profile !== undefined ? [pickProfile(config, values.profile)] : Object.values(config.profiles);
  const report = await buildReport(config, profiles);
  const table = values.table || (!values.json && (options.isTty ?? process.stdout.isTTY === true));
  io.stdout(table ? formatTable(report, Date.now()) : `${JSON.stringify(report)}\n`);
  return exitCode(report);
}

export async function buildReport(config: Config, profiles: readonly ProfileConfig[]): Promise<StatusReport> {
  const store = openSecretStore(config);
  const [daemon, keychain] = await Promise.all([daemonStatus(config), Promise.all(profiles.map((profile) => keychainView(store, profile)))]);
  return {
    daemon: daemon.running ? { running: true, url: daemon.url, pid: daemon.pid } : { running: false, reason: daemon.reason },
    defaultProfile: config.defaultProfile,
    secretStore: { kind: store.kind, description: store.description },
    profiles: profiles.map((profile, i) => {
      const stored = keychain[i] as KeychainView;
      const live = daemon.running ? daemon.profiles.find((p) => p.profile === profile.name) : undefined;
      const view = live ? { ...fromDaemon(live), shellError: stored.error } : fromKeychain(stored);
      // Every key, always, in one order: scripts and the docs rely on it.
      return {
        profile: profile.name,
        state: view.state,
        signedIn: view.signedIn,
        user: view.user,
        signInMethod: view.signInMethod,
        signedInAt: view.signedInAt,
        signInFrom: profile.signInFrom?.name ?? null,
        customRoleArn: profile.customRoleArn ?? null,
        identityId: view.identityId,
        idTokenExpiresAt: view.idTokenExpiresAt,
        credentialsExpireAt: view.credentialsExpireAt,
        lastRefreshAt: view.lastRefreshAt,
        retryAt: view.retryAt,
        lastError: view.lastError,
        upstreamCalls: view.upstreamCalls,
        secretStore: view.secretStore,
        shellError: view.shellError,
      };
    }),
  };
}

type Reported = Omit<ProfileReport, 'profile' | 'signInFrom' | 'customRoleArn'>;

/** The daemon's view of the profile: its own, whatever this shell can read. */
function fromDaemon(live: ProfileStatus): Omit<Reported, 'shellError'> {
  return {
    state: live.phase,
    signedIn: live.phase === 'starting' ? null : live.phase !== 'signed-out',
    user: live.user ?? null,
    signInMethod: live.signInMethod ?? null,
    signedInAt: live.signedInAt ?? null,
    identityId: live.identityId ?? null,
    idTokenExpiresAt: live.idTokenExpiresAt ?? null,
    credentialsExpireAt: live.credentialsExpireAt ?? null,
    lastRefreshAt: live.lastRefreshAt ?? null,
    retryAt: live.retryAt ?? null,
    lastError: live.lastError ?? null,
    upstreamCalls: { ...live.upstreamCalls },
    secretStore: live.secretStore ?? null,
  };
}

/** No daemon: what the keychain says, and why it could not say more. */
function fromKeychain(stored: KeychainView): Reported {
  return {
    state: 'daemon-not-running',
    signedIn: stored.signedIn,
    user: stored.user,
    signInMethod: stored.method,
    signedInAt: stored.signedInAt,
    identityId: stored.identityId,
    idTokenExpiresAt: null,
    credentialsExpireAt: null,
    lastRefreshAt: null,
    retryAt: null,
    lastError: stored.error,
    upstreamCalls: null,
    secretStore: stored.secretStore,
    shellError: null,
  };
}

type DaemonView = { running: true; url: string; pid: number; profiles: readonly ProfileStatus[] } | { running: false; reason: string };

async function daemonStatus(config: Config): Promise<DaemonView> {
  const found = await findDaemon(config);
  if (!found.daemon) return { running: false, reason: found.problem.message };
  const { daemon } = found;
  try {
    const answer = await daemon.get('/status');
    const body = answer.body as { profiles?: unknown; pid?: unknown } | undefined;
    if (answer.status === 200 && Array.isArray(body?.profiles)) {
      return { running: true, url: daemon.url, pid: typeof body.pid === 'number' ? body.pid : daemon.info.pid, profiles: body.profiles as ProfileStatus[] };
    }
    const why = answer.status === 404 ? 'it has no /status route: it runs an older cognito-broker, restart it' : `it answered HTTP ${answer.status} to GET /status`;
    return { running: false, reason: `The cognito-broker at ${daemon.url} (pid ${daemon.info.pid}) cannot say: ${why}.` };
  } catch {
    return { running: false, reason: `No cognito-broker answers at ${daemon.url}.` };
  } finally {
    daemon.close();
  }
}

interface KeychainView {
  secretStore: string;
  signedIn: boolean | null;
  user: string | null;
  method: string | null;
  signedInAt: string | null;
  /** Kept with the session after its first GetId (StoredSession.identity). */
  identityId: string | null;
  error: { code: string; message: string } | null;
}

/** What the secret store says of the profile's sign-in (the owner's, for a signInFrom profile). Never throws. */
async function keychainView(store: SecretStore, profile: ProfileConfig): Promise<KeychainView> {
  const { SessionStore, storedIdentityId } = await import('../store/session-store.js');
  const secretStore = store.kind;
  try {
    const session = await new SessionStore(store).load(profile.signInFrom ?? profile);
    if (!session) return { secretStore, signedIn: false, user: null, method: null, signedInAt: null, identityId: null, error: null };
    return {
      secretStore,
      signedIn: true,
      user: session.username,
      method: session.method ?? 'password',
      signedInAt: new Date(session.signedInAt).toISOString(),
      identityId: storedIdentityId(session, profile) ?? null,
      error: null,
    };
  } catch (error) {
    const code = isBrokerError(error) ? error.code : 'BRK_ERR_INTERNAL';
    const message = isBrokerError(error) ? error.message : 'The keychain entry could not be read.';
    // An entry that cannot be used needs a new login; a locked keychain says nothing either way.
    const signedIn = code === 'BRK_ERR_STORED_SESSION_INVALID' ? false : null;
    return { secretStore, signedIn, user: null, method: null, signedInAt: null, identityId: null, error: { code, message } };
  }
}

export function exitCode(report: StatusReport): number {
  const states = report.profiles.map((p) => p.state);
  const needsLogin = report.profiles.some((p) =>
    p.state === 'signed-out' || p.state === 'login-required' || p.signedIn === false ||
    (p.state === 'degraded' && p.lastError?.code === 'BRK_ERR_STORED_SESSION_INVALID'));
  if (needsLogin) return STATUS_EXIT.loginNeeded;
  if (!report.daemon.running) return STATUS_EXIT.daemonNotRunning;
  return states.every((s) => s === 'ready' || s === 'refreshing-ahead') ? STATUS_EXIT.ready : STATUS_EXIT.notReady;
}

const STATE_LABELS: Record<ProfileReport['state'], string> = {
  starting: 'starting',
  'signed-out': 'not signed in',
  refreshing: 'refreshing',
  ready: 'ready',
  'refreshing-ahead': 'ready (refreshing)',
  degraded: 'degraded',
  'login-required': 'login required',
  'daemon-not-running': 'daemon not running',
};

/** The table for people: one row per profile, then the details that do not fit a row. */
export function formatTable(report: StatusReport, now: number): string {
  const header = ['PROFILE', 'STATE', 'USER', 'ID TOKEN', 'CREDENTIALS', 'LAST REFRESH', 'CALLS (refresh/GetId/GetCredentials)'];
  const rows = report.profiles.map((p) => [
    p.profile + (p.profile === report.defaultProfile ? ' *' : ''),
    STATE_LABELS[p.state] ?? p.state,
    p.signedIn === null ? '?' : (p.user ?? (p.signedIn ? '(signed in)' : '-')),
    relative(p.idTokenExpiresAt, now),
    relative(p.credentialsExpireAt, now),
    relative(p.lastRefreshAt, now),
    p.upstreamCalls ? `${p.upstreamCalls.refresh}/${p.upstreamCalls.getId}/${p.upstreamCalls.getCredentials}` : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const out = [report.daemon.running ? `Daemon: pid ${report.daemon.pid} at ${report.daemon.url}` : `Daemon: not running (${report.daemon.reason})`, ...shellNotes(report), '', line(header), ...rows.map(line), ''];
  for (const p of report.profiles) {
    const details = [
      p.signedIn && p.signedInAt ? `signed in ${p.signInMethod === 'password' ? 'with a password' : `through ${p.signInMethod}`} at ${p.signedInAt}${p.secretStore ? `, kept in ${storeLabel(p.secretStore)}` : ''}` : '',
      p.signInFrom ? `uses the sign-in of profile "${p.signInFrom}"` : '',
      p.customRoleArn ? `role ${p.customRoleArn}` : '',
      p.identityId ? `IdentityId ${p.identityId}` : '',
      p.retryAt ? `next retry ${relative(p.retryAt, now)}` : '',
      p.lastError ? `last error ${p.lastError.code}: ${p.lastError.message}` : '',
    ].filter(Boolean);
    if (details.length > 0) out.push(`${p.profile}:`, ...details.map((d) => `  ${d}`));
  }
  if (report.secretStore) out.push(`Secrets (secretStore ${report.secretStore.kind}): ${report.secretStore.description}`);
  out.push('(* the default profile)');
  return `${out.join('\n')}\n`;
}

/** A store's kind as the table's detail line names it. */
function storeLabel(kind: string): string {
  switch (kind) {
    case 'keychain':
      return 'the keychain';
    case 'kernel':
      return 'the kernel keyring (until reboot)';
    case 'file':
      return 'a plain file (0600, not encrypted)';
    default:
      return kind;
  }
}

/**
 * What this shell could not read while the daemon answered, said once apart from the daemon's
 * state: the shell is not the daemon (another environment, an SSH session without the desktop's
 * keychain), and the daemon's view is the one that serves.
 */
function shellNotes(report: StatusReport): string[] {
  const errors = new Map<string, { code: string; message: string }>();
  for (const p of report.profiles) if (p.shellError) errors.set(`${p.shellError.code} ${p.shellError.message}`, p.shellError);
  return [...errors.values()].map((e) => `Note: this shell cannot read its keychain (${e.code}: ${e.message}); the daemon can, and what follows is the daemon's.`);
}

/** "in 52m", "3m ago", "-". */
export function relative(iso: string | null, now: number): string {
  if (iso === null) return '-';
  const delta = Date.parse(iso) - now;
  const abs = Math.abs(delta);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)}s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)}m` : abs < 172_800_000 ? `${Math.floor(abs / 3_600_000)}h${String(Math.round((abs % 3_600_000) / 60_000)).padStart(2, '0')}m` : `${Math.round(abs / 86_400_000)}d`;
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}
