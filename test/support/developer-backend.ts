/**
 * An organisation's backend as a developerIdentity command (compiled to
 * dist/test/support/developer-backend.js and run by the broker): it holds the developer's AWS
 * keys, calls GetOpenIdTokenForDeveloperIdentity on the identity-pool emulator with the real
 * SDK client (SigV4-signed), and prints the answer.
 *
 * What the test controls, read at every run from the JSON file BACKEND_STATE_FILE:
 *   {"user": "alice", "mode": "ok" | "signed-out" | "crash" | "garbage" | "leak-to-stderr",
 *    "tokenDuration": seconds}
 * and each run appends a line to BACKEND_RUNS_FILE ("interactive" or "background"), and each
 * token it prints to BACKEND_TOKENS_FILE (for the tests' search for secrets in logs).
 * Connection: BACKEND_ENDPOINT, BACKEND_ACCESS_KEY_ID, BACKEND_SECRET_KEY, BACKEND_PROVIDER;
 * the pool and region come from the broker (COGNITO_BROKER_IDENTITY_POOL_ID, COGNITO_BROKER_REGION).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { CognitoIdentityClient, GetOpenIdTokenForDeveloperIdentityCommand } from '@aws-sdk/client-cognito-identity';

/** The broker's default "not signed in" exit code (DEVELOPER_NOT_SIGNED_IN_EXIT_CODE). */
const NOT_SIGNED_IN = 77;

interface BackendState {
  user: string;
  mode?: 'ok' | 'signed-out' | 'crash' | 'garbage' | 'leak-to-stderr';
  tokenDuration?: number;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`developer-backend: ${name} is not set`);
  return value;
};

const state = JSON.parse(readFileSync(env('BACKEND_STATE_FILE'), 'utf8')) as BackendState;
const interactive = process.env.COGNITO_BROKER_INTERACTIVE === '1';
appendFileSync(env('BACKEND_RUNS_FILE'), `${interactive ? 'interactive' : 'background'}\n`);

if (state.mode === 'signed-out') {
  process.stderr.write('example backend: no session for this user; sign in first\n');
  process.exit(NOT_SIGNED_IN);
}
if (state.mode === 'crash') {
  process.stderr.write('example backend: connection to the directory refused\n');
  process.exit(1);
}
if (interactive) process.stderr.write(`example backend: signed in as ${state.user}\n`);

const client = new CognitoIdentityClient({
  region: env('COGNITO_BROKER_REGION'),
  endpoint: env('BACKEND_ENDPOINT'),
  credentials: { accessKeyId: env('BACKEND_ACCESS_KEY_ID'), secretAccessKey: env('BACKEND_SECRET_KEY') },
  maxAttempts: 1,
});
const answer = await client.send(new GetOpenIdTokenForDeveloperIdentityCommand({
  IdentityPoolId: env('COGNITO_BROKER_IDENTITY_POOL_ID'),
  Logins: { [env('BACKEND_PROVIDER')]: state.user },
  ...(state.tokenDuration ? { TokenDuration: state.tokenDuration } : {}),
}));
client.destroy();
if (state.mode === 'garbage') {
  process.stdout.write('Token: not json\n');
  process.exit(0);
}
// For the tests' search for secrets: every token this backend handed out.
if (process.env.BACKEND_TOKENS_FILE) appendFileSync(process.env.BACKEND_TOKENS_FILE, `${answer.Token}\n`);
// A careless backend: the token on stderr too. The broker must not log it.
if (state.mode === 'leak-to-stderr') process.stderr.write(`debug: issued ${answer.Token}\n`);
process.stdout.write(JSON.stringify({ IdentityId: answer.IdentityId, Token: answer.Token, ...(state.tokenDuration ? { TokenDuration: state.tokenDuration } : {}) }));
