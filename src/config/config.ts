import type { z } from 'zod';
import type { profileSchema } from './config-schema.js';

export type ProfileConfig = Readonly<z.infer<typeof profileSchema>> & { readonly name: string };

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
  };
  readonly defaultProfile: string;
  readonly profiles: Readonly<Record<string, ProfileConfig>>;
}
