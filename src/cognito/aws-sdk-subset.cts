// The parts of the AWS SDK the broker uses (the two Cognito clients, and STS for the basic
// flow), as one CommonJS module. The build (scripts/bundle.mjs) replaces this file's compiled
// output with those parts bundled from the clients' ES modules, tree-shaken, and without the
// SDK's default credential chain, which the broker never asks (createSdkClients gives every
// client credentials of its own). Each client's CommonJS entry point is one file that defines
// every operation of its API (120-odd for the user pool) and the models of each: the two
// Cognito clients with the chain took ~100 ms of every `serve` and `login` start on a 2-core
// machine before the first request could go out, and 1.5 MB of an idle daemon's heap. The
// bundle is the clients' own code: what they throw is not `instanceof` the packages' classes
// (translate-aws-error.ts goes by `name`). Unbundled (a plain `tsc`), this is a re-export of
// the packages and works the same, only slower to load and larger.
export {
  AssociateSoftwareTokenCommand,
  CognitoIdentityProviderClient,
  ConfirmDeviceCommand,
  GetTokensFromRefreshTokenCommand,
  GlobalSignOutCommand,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
  RevokeTokenCommand,
  UpdateDeviceStatusCommand,
  VerifySoftwareTokenCommand,
} from '@aws-sdk/client-cognito-identity-provider';
export { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetIdCommand, GetOpenIdTokenCommand } from '@aws-sdk/client-cognito-identity';
export { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
