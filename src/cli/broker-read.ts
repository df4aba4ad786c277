import { type CredentialsBody, containerCredentials } from '../server/container-credentials.js';
import type { CliIo } from './cli-io.js';
import type { CommandOptions } from './cli-context.js';
import { type BrokerUse, type TokenBody, useBroker } from './daemon-client.js';

export type { TokenBody } from './daemon-client.js';

/**
 * A fresh ID and access token for the profile: from the verified daemon of this config (one
 * loopback call), else from the keychain and Cognito in this process, through the same
 * ProfileSession `serve` runs (so a rotated refresh token is written back to the keychain
 * as the daemon would).
 */
export function freshTokens(options: CommandOptions, io?: CliIo): Promise<TokenBody> {
  return useBroker(options, {
    daemon: async (daemon, profile, hasStoredSession) => (await daemon.tokens(profile, hasStoredSession)).value,
    inProcess: async (config, profile) => {
      const { readInProcess } = await import('../app/in-process-broker.js');
      return readInProcess(config, profile, async (session) => {
        const t = await session.tokens();
        return { IdToken: t.idToken, AccessToken: t.accessToken, Expiration: new Date(t.expiresAt).toISOString() };
      });
    },
    onUntrusted: untrustedNote(io),
  });
}

/** The profile's AWS credentials, found as freshTokens finds tokens. */
export function freshCredentials(options: CommandOptions, io?: CliIo): Promise<CredentialsBody> {
  return useBroker(options, {
    daemon: async (daemon, profile, hasStoredSession) => (await daemon.credentials(profile, hasStoredSession)).value,
    inProcess: async (config, profile) => {
      const { readInProcess } = await import('../app/in-process-broker.js');
      return readInProcess(config, profile, async (session) => containerCredentials(await session.credentials(), session.accountId));
    },
    onUntrusted: untrustedNote(io),
  });
}

/** Says, once, that the listener found is not this user's daemon; what it answered is never shown. */
export function untrustedNote(io: CliIo | undefined): BrokerUse<unknown>['onUntrusted'] {
  return io ? (problem) => io.stderr(`cognito-broker: ${problem.message} Serving this command in-process instead.\n`) : undefined;
}
