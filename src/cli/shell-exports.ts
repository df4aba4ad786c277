/** The lines a shell evaluates to point every AWS SDK at the broker. */
export function shellExports(credentialsUrl: string, token: string, tokenFile: string): string {
  return [
    `export AWS_CONTAINER_CREDENTIALS_FULL_URI=${quote(credentialsUrl)}`,
    // Both: older SDKs (botocore 1.29, AWS CLI 2.9, fromContainerMetadata) read only the value.
    `export AWS_CONTAINER_AUTHORIZATION_TOKEN=${quote(token)}`,
    `export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=${quote(tokenFile)}`,
    // Every SDK prefers RELATIVE_URI over FULL_URI; one left over from elsewhere would win.
    'unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  ].join('\n');
}

export function credentialsUrl(baseUrl: string, profile: string, defaultProfile: string): string {
  return profile === defaultProfile ? `${baseUrl}/credentials` : `${baseUrl}/profiles/${encodeURIComponent(profile)}/credentials`;
}

function quote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
