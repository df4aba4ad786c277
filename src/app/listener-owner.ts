import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';

/** Who holds a listening TCP socket: a uid, and its user name when /etc/passwd has one. */
export interface ListenerOwner {
  readonly uid: number;
  readonly user?: string | undefined;
}

const LISTEN_STATE = '0A';

/**
 * The owner of the socket listening on `address`:`port`, from the kernel's socket tables
 * (/proc/net/tcp and tcp6 list each socket with its owner's uid; Linux only). A socket on
 * the wildcard address (0.0.0.0, ::) holds the port for every address of its family, and a
 * dual-stack :: for IPv4 too. Resolves undefined when nothing listens there, null when this
 * cannot be told (no /proc: macOS, Windows).
 */
export async function listenerOwner(address: string, port: number, proc = '/proc'): Promise<ListenerOwner | undefined | null> {
  const wanted = addressForms(address);
  if (!wanted) return null;
  let tables: string[];
  try {
    tables = await Promise.all(['tcp', 'tcp6'].map((name) => readFile(`${proc}/net/${name}`, 'utf8').catch(() => '')));
  } catch {
    return null;
  }
  if (tables.every((t) => t === '')) return null;
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of tables.join('\n').split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [local, , state, , , , uid] = fields.slice(1);
    if (state !== LISTEN_STATE || !local || uid === undefined) continue;
    const [hexAddress, hexPort] = local.split(':');
    if (hexPort !== portHex || !hexAddress || !wanted.has(hexAddress)) continue;
    const owner = Number(uid);
    return { uid: owner, user: await userName(owner) };
  }
  return undefined;
}

/** "uid 1001 (alice)". */
export function describeOwner(owner: ListenerOwner): string {
  return owner.user ? `uid ${owner.uid} (${owner.user})` : `uid ${owner.uid}`;
}

/**
 * The kernel's hex forms of the addresses whose listener takes a connection to `address`:
 * itself, its family's wildcard, and for IPv4 the IPv4-mapped and dual-stack IPv6 forms.
 * Each 32-bit word is printed in host byte order (little-endian on the machines we run on).
 */
function addressForms(address: string): Set<string> | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1');
  if (isIPv4(bare)) {
    const ipv4 = word(bare.split('.').map(Number));
    return new Set([ipv4, '00000000', `${'0'.repeat(16)}FFFF0000${ipv4}`, '0'.repeat(32)]);
  }
  if (isIPv6(bare)) return new Set([ipv6Hex(bare), '0'.repeat(32)]);
  return undefined;
}

function word(bytes: readonly number[]): string {
  return [...bytes].reverse().map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
}

function ipv6Hex(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const parts = (s: string) => (s === '' ? [] : s.split(':'));
  const h = parts(head);
  const t = parts(tail);
  const groups = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const bytes = groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  let hex = '';
  for (let i = 0; i < 16; i += 4) hex += word(bytes.slice(i, i + 4));
  return hex;
}

async function userName(uid: number): Promise<string | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && Number(id) === uid) return name;
  }
  return undefined;
}
