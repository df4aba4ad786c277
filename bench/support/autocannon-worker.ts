/**
 * autocannon in a process of its own (the fallback load generator when wrk is not
 * installed). Prints `RESULT {json}` with the fields LoadResult needs.
 *   BENCH_TOKEN=... node dist/bench/support/autocannon-worker.js URL CONNECTIONS SECONDS
 */
import autocannon from 'autocannon';

const [url, connections, seconds] = process.argv.slice(2);
if (!url || !connections || !seconds) {
  process.stderr.write('usage: autocannon-worker.js URL CONNECTIONS SECONDS\n');
  process.exit(2);
}
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  headers: { authorization: process.env.BENCH_TOKEN ?? '' },
});
const non2xx = result.non2xx;
process.stdout.write(
  `RESULT ${JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.total / (result.duration || Number(seconds)),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx,
    errors: result.errors + result.timeouts,
  })}\n`,
);
