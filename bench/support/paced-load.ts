/**
 * An open-loop load generator: `rate` requests per second spread over `connections`
 * keep-alive connections, each request's latency measured from the moment it was due
 * (so a stalled server is charged for the requests queued behind the stall, which
 * closed-loop tools like wrk leave out). Raw sockets and a prebuilt request keep the
 * generator's own cost small; latencies are kept exactly (hrtime), not bucketed.
 *
 *   BENCH_TOKEN=... node dist/bench/support/paced-load.js URL CONNECTIONS RATE SECONDS
 *
 * Prints `RESULT {json}` with requests, rps, p50Ms, p99Ms, maxMs, non2xx, errors.
 */
import { connect, type Socket } from 'node:net';

const [urlText, connectionsText, rateText, secondsText] = process.argv.slice(2);
if (!urlText || !connectionsText || !rateText || !secondsText) {
  process.stderr.write('usage: paced-load.js URL CONNECTIONS RATE SECONDS\n');
  process.exit(2);
}
const url = new URL(urlText);
const connections = Number(connectionsText);
const rate = Number(rateText);
const seconds = Number(secondsText);
const request = Buffer.from(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${process.env.BENCH_TOKEN ?? ''}\r\n\r\n`);

interface Conn {
  socket: Socket;
  busy: boolean;
  dueAt: number;
  buffer: Buffer;
}

const latencies: number[] = [];
let non2xx = 0;
let errors = 0;
const queue: number[] = [];
const idle: Conn[] = [];
const now = () => Number(process.hrtime.bigint()) / 1e6;

function open(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    const conn: Conn = { socket, busy: false, dueAt: 0, buffer: Buffer.alloc(0) };
    socket.once('connect', () => resolve(conn));
    socket.once('error', (error) => {
      errors += 1;
      reject(error);
    });
    socket.on('data', (chunk: Buffer) => onData(conn, chunk));
  });
}

/** One response is complete when its headers and Content-Length bytes of body are in. */
function onData(conn: Conn, chunk: Buffer): void {
  conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
  const end = conn.buffer.indexOf('\r\n\r\n');
  if (end === -1) return;
  const head = conn.buffer.subarray(0, end).toString('latin1');
  const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
  if (conn.buffer.length < end + 4 + length) return;
  const status = Number(head.slice(9, 12));
  if (status < 200 || status > 299) {
    non2xx += 1;
    if (non2xx <= 3) process.stderr.write(`non-2xx answer: ${head.split('\r\n')[0]} ${conn.buffer.subarray(end + 4, end + 4 + length).toString('utf8').slice(0, 300)}\n`);
  }
  latencies.push(now() - conn.dueAt);
  conn.buffer = conn.buffer.subarray(end + 4 + length);
  conn.busy = false;
  dispatch(conn);
}

function dispatch(conn: Conn): void {
  const due = queue.shift();
  if (due === undefined) {
    idle.push(conn);
    return;
  }
  conn.busy = true;
  conn.dueAt = due;
  conn.socket.write(request);
}

const conns = await Promise.all(Array.from({ length: connections }, open));
idle.push(...conns);
const intervalMs = 1000 / rate;
const start = now();
const end = start + seconds * 1000;
let issued = 0;
await new Promise<void>((resolve) => {
  const tick = () => {
    const t = now();
    // Every request due by now goes out (or waits for a free connection, its clock running).
    while (start + issued * intervalMs <= t && start + issued * intervalMs < end) {
      queue.push(start + issued * intervalMs);
      issued += 1;
      // Oldest idle first: every connection keeps being used (one left idle past the
      // server's headers timeout would rightly be closed with a 408).
      const conn = idle.shift();
      if (conn) dispatch(conn);
    }
    if (t >= end) resolve();
    else setImmediate(tick);
  };
  tick();
});
// Let what is in flight finish (at most 2 s).
const drainUntil = now() + 2000;
while ((queue.length > 0 || conns.some((c) => c.busy)) && now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 5));
const elapsed = (now() - start) / 1000;
for (const c of conns) c.socket.destroy();
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
const unanswered = issued - latencies.length;
process.stdout.write(
  `RESULT ${JSON.stringify({ requests: latencies.length, rps: latencies.length / elapsed, p50Ms: pct(50), p99Ms: pct(99), maxMs: latencies[latencies.length - 1] ?? Number.NaN, non2xx, errors: errors + unanswered })}\n`,
);
