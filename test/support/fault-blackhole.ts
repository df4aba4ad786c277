/**
 * An address on 127.0.0.1 where a TCP connect never completes: a socket that listens with
 * a backlog of zero, never accepts, and whose queue is already full. Linux then drops
 * further SYNs (tcp_abort_on_overflow = 0), so a client stays in "connecting" until its
 * own connect timeout, as with a firewall that drops packets or a host that is gone.
 *
 * Node cannot hold a listening socket without accepting from it, so a small python3
 * process holds it (python3 is needed by the test suite anyway, for boto3).
 */
import { connect } from 'node:net';
import { ChildGroup } from '../../testkit/children.js';

const HOLDER = `
import socket, sys
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)
port = s.getsockname()[1]
queued = []
for _ in range(4):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(('127.0.0.1', port))
    except BlockingIOError:
        pass
    queued.append(c)
print(port, flush=True)
sys.stdin.read()
`;

export interface Blackhole {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  stop(): Promise<void>;
}

export async function startBlackhole(): Promise<Blackhole> {
  const children = new ChildGroup();
  const child = children.spawn('python3', ['-c', HOLDER], { env: { PATH: process.env.PATH ?? '' } });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout?.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
      child.once('exit', (code) => reject(new Error(`the blackhole holder exited (${code}): ${children.output(child)}`)));
    });
    if (await completes(port, 300)) throw new Error('this kernel completes connections beyond a full listen backlog: no blackhole here');
    return { url: `http://127.0.0.1:${port}`, stop: () => children.stopAll() };
  } catch (error) {
    await children.stopAll();
    throw error;
  }
}

function completes(port: number, withinMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (result: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), withinMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(true));
  });
}
