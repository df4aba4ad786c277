import { randomBytes } from 'node:crypto';
import type { Config, ProfileConfig } from '../config/config.js';
import { ENDPOINT_TOKEN_BYTES } from '../store/endpoint-token-file.js';
import {
  askDaemon,
  type CredentialsBody,
  daemonCredentials,
  findDaemon,
  findDaemonOfConfigFile,
  type RunningDaemon,
  storedSessionExists,
} from './daemon-client.js';

/** The daemon's /token body. */
export interface TokenBody {
  readonly IdToken: string;
  readonly AccessToken: string;
  readonly Expiration: string;
}

export interface ReadOptions {
  readonly config?: string | undefined;
  readonly profile?: string | undefined;
}

/**
 * A fresh ID and access token for the profile: from the running daemon of this config
 * (one loopback call, found before the config is even parsed), else from the keychain and
 * Cognito in this process, through the same ProfileSession `serve` runs (so a rotated
 * refresh token is written back to the keychain as the daemon would).
 */
export async function freshTokens(options: ReadOptions): Promise<TokenBody> {
  const fast = await findDaemonOfConfigFile(options.config, options.profile);
  if (fast) {
    const answer = await daemonTokens(fast.daemon, fast.profile, async () => storedSessionExists(await ownerOf(options)));
    if (answer) return answer;
  }
  const { config, profile } = await loadProfile(options);
  const found = await findDaemon(config, { profile: profile.name });
  if (found.daemon) {
    const answer = await daemonTokens(found.daemon, profile.name, () => storedSessionExists(profile));
    if (answer) return answer;
  }
  return inProcess(config, profile, async (session) => {
    const t = await session.tokens();
    return { IdToken: t.idToken, AccessToken: t.accessToken, Expiration: new Date(t.expiresAt).toISOString() };
  });
}

/**
 * The profile's AWS credentials, found as freshTokens finds tokens (and credential-process
 * credentials): the running daemon of this config file, before the config is parsed; else
 * the daemon the loaded config names; else the keychain and Cognito in this process.
 */
export async function freshCredentials(options: ReadOptions): Promise<CredentialsBody> {
  const fast = await findDaemonOfConfigFile(options.config, options.profile);
  if (fast) {
    const answer = await daemonCredentials(fast.daemon, fast.profile, async () => storedSessionExists(await ownerOf(options)));
    if (answer.value) return answer.value;
  }
  const { config, profile } = await loadProfile(options);
  const found = await findDaemon(config, { profile: profile.name });
  if (found.daemon) {
    const answer = await daemonCredentials(found.daemon, profile.name, () => storedSessionExists(profile));
    if (answer.value) return answer.value;
  }
  return inProcess(config, profile, async (session) => {
    const c = await session.credentials();
    return {
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      Token: c.sessionToken,
      Expiration: new Date(c.expiresAt).toISOString(),
      ...(session.accountId ? { AccountId: session.accountId } : {}),
    };
  });
}

export async function loadProfile(options: ReadOptions): Promise<{ config: Config; profile: ProfileConfig }> {
  const { loadCliConfig, pickProfile } = await import('./cli-context.js');
  const config = await loadCliConfig(options);
  return { config, profile: pickProfile(config, options.profile) };
}

async function ownerOf(options: ReadOptions): Promise<ProfileConfig> {
  const { profile } = await loadProfile(options);
  return profile.signInFrom ?? profile;
}

type Session = import('../broker/profile-session.js').ProfileSession;

/** One read through a broker of this process's own: keychain, then Cognito; never listens. */
async function inProcess<T>(config: Config, profile: ProfileConfig, read: (session: Session) => Promise<T>): Promise<T> {
  const { createInProcessDaemon } = await import('./in-process-broker.js');
  // Never listens: the token only satisfies createDaemon.
  const daemon = createInProcessDaemon(config, profile, randomBytes(ENDPOINT_TOKEN_BYTES).toString('hex'));
  try {
    const session = daemon.broker.session(profile.name);
    // However long the first refresh takes (not the 750 ms a request waits).
    await session.refresh();
    return await read(session);
  } finally {
    await daemon.close();
  }
}

/** The profile's tokens from the daemon; undefined when it is no daemon of ours after all. */
async function daemonTokens(daemon: RunningDaemon, profile: string, hasStoredSession: () => Promise<boolean>): Promise<TokenBody | undefined> {
  return (await askDaemon(daemon, profile, 'token', isTokenBody, hasStoredSession)).value;
}

function isTokenBody(body: unknown): body is TokenBody {
  const b = body as Partial<Record<keyof TokenBody, unknown>> | null;
  return typeof b === 'object' && b !== null && typeof b.IdToken === 'string' && typeof b.AccessToken === 'string' && typeof b.Expiration === 'string';
}
