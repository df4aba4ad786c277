import type { z } from 'zod';
import type { SecretStoreChoice } from '../errors.js';
import type { hostedUiSchema, notifySchema, oidcSchema, profileSchema } from './config-schema.js';

/** The user pool's managed login (hosted UI), for `login --browser`. */
export type HostedUiConfig = Readonly<z.infer<typeof hostedUiSchema>>;
/** Another OpenID Connect provider in place of a user pool. */
export type OidcConfig = Readonly<z.infer<typeof oidcSchema>>;

type ParsedProfile = z.infer<typeof profileSchema>;

export type ProfileConfig = Readonly<Omit<ParsedProfile, 'userPoolId' | 'clientId' | 'refreshTokenLifetime'>> & {
  readonly name: string;
  /** `refreshTokenLifetime`: how long a sign-in lasts from `login`, when the config says. */
  readonly refreshTokenLifetimeMs?: number | undefined;
  /**
   * The user pool's id. In an `oidc` profile (no user pool) it holds the provider's issuer
   * URL, so that what the keychain's session record is checked against ("signed in to this
   * pool and client") means "this provider and client" there.
   */
  readonly userPoolId: string;
  /** The app client id; in an `oidc` profile, the provider's client id (`oidc.clientId`). */
  readonly clientId: string;
  /**
   * `"signInFrom": "NAME"`: this profile uses that profile's sign-in (its keychain session,
   * refreshed by that profile's session alone) and has its own GetCredentialsForIdentity,
   * with its own `customRoleArn` (and `identityPoolId`). Every other key is that profile's.
   */
  readonly signInFrom?: ProfileConfig | undefined;
};

/**
 * How a session was signed in, which decides how it is refreshed: the user-pool API
 * (password, SRP), the managed login's /oauth2/token, or another OpenID Connect provider.
 */
export type SignInMethod = 'password' | 'browser' | 'oidc';

/** server.containers: where containers reach the daemon. */
export interface ContainersConfig {
  /** The host's end of the cognito-broker Docker network: what containers connect to, and what Host must name. */
  readonly address: string;
  /** The port containers connect to; default: the port the loopback listener has. */
  readonly port?: number | undefined;
  /** Also serve AWS_CONTAINER_CREDENTIALS_RELATIVE_URI clients on port 80 of the address, when it can be bound. */
  readonly relativeUri: boolean;
  /**
   * Docker Desktop: no container can reach a host address, so the daemon listens for
   * containers on 127.0.0.1:relayPort, and a relay container at the address forwards there.
   */
  readonly relayPort?: number | undefined;
}

/** `notify`: what the daemon does when a profile needs a login or its sign-in ends soon. */
export type NotifyConfig = Readonly<z.infer<typeof notifySchema>>;

/** The validated, frozen configuration every other module receives. */
export interface Config {
  readonly file: string;
  /** Where the daemon keeps the token file (by default) and its address for `env`. */
  readonly stateDir: string;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly tokenFile: string;
    /** server.host may be a non-loopback address (the config check refuses one otherwise). */
    readonly allowNonLoopback?: boolean;
    /** Docker containers on this machine (docs/containers.md); absent: no container listener. */
    readonly containers?: ContainersConfig | undefined;
  };
  /** Where secrets are kept: the OS keychain, the Linux kernel keyring, or a 0600 file under stateDir. */
  readonly secretStore: SecretStoreChoice;
  readonly defaultProfile: string;
  /** Absent: a desktop notification only (the default). */
  readonly notify?: NotifyConfig | undefined;
  readonly profiles: Readonly<Record<string, ProfileConfig>>;
}
