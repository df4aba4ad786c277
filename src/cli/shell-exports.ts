/**
 * The lines a shell evaluates to point every AWS SDK at the broker. Without `token` (serve's
 * output is not a terminal: a log or the journal would keep it) the value is left out and
 * only the file is named.
 */
export function shellExports(credentialsUrl: string, token: string | undefined, tokenFile: string): string {
  return [
    `export AWS_CONTAINER_CREDENTIALS_FULL_URI=${quote(credentialsUrl)}`,
    // Both: older SDKs (botocore 1.29, AWS CLI 2.9, fromContainerMetadata) read only the value.
    token === undefined
      ? '# AWS_CONTAINER_AUTHORIZATION_TOKEN is not printed where it would be kept (not a terminal): eval "$(cognito-broker env)" sets it'
      : `export AWS_CONTAINER_AUTHORIZATION_TOKEN=${quote(token)}`,
    `export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=${quote(tokenFile)}`,
    // Every SDK prefers RELATIVE_URI over FULL_URI; one left over from elsewhere would win.
    'unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  ].join('\n');
}

function quote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
