// Which hosts and URLs stay on this machine. Kept apart from the config schema so that the
// commands' fast path (and cognito/) can ask without loading zod.

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const LOOPBACK_IPV4 = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || LOOPBACK_IPV4.test(host);
}

/**
 * An http(s) URL whose host is this machine (a local emulator such as cognito-local, or a
 * test proxy): what is sent there does not leave the machine.
 */
export function isLoopbackUrl(value: string | undefined): boolean {
  if (value === undefined || !URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname.replace(/^\[(.*)\]$/, '$1'));
}

/** https anywhere; http only to this machine. No query or fragment: paths are appended to it. */
export function isSecureUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname.replace(/^\[(.*)\]$/, '$1'));
}
