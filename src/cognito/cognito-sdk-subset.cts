// The parts of the two Cognito clients the broker uses, as one CommonJS module. The build
// (scripts/bundle.mjs) replaces this file's compiled output with those parts bundled from the
// clients' ES modules, tree-shaken: each client's CommonJS entry point is one file that defines
// every operation of its API (120-odd for the user pool) and the models of each, and the two
// take about 100 ms of a `serve` or `login` start on a 2-core machine, where the bundle takes
// about 60, and some 1.5 MB of an idle daemon's heap. Unbundled (a plain `tsc`), it is a
// re-export of the two packages and works the same, only slower to load and larger.
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
