/**
 * Imported (through NODE_OPTIONS) into the CLI processes the tests start, in place of tap's
 * process-info loader, which testkit/children.ts's withoutTapHooks leaves out because it doubles
 * each child's start-up CPU: V8's precise coverage, written where tap's report reads it
 * (.tap/coverage), for this repository's files outside node_modules. The report maps dist/
 * back to src/ through the source maps beside the files, as it does for tap's own.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { pathToFileURL } from 'node:url';

const root = process.env._TAPJS_PROCESSINFO_CWD_;
if (root) {
  const prefix = `${pathToFileURL(root).href}/`;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // A same-thread inspector session answers synchronously, so this works in an exit handler.
    session.post('Profiler.takePreciseCoverage', (error, coverage) => {
      if (error) return;
      const result = coverage.result.filter((script) => script.url.startsWith(prefix) && !script.url.includes('/node_modules/'));
      if (result.length === 0) return;
      mkdirSync(`${root}/.tap/coverage`, { recursive: true });
      writeFileSync(`${root}/.tap/coverage/${randomUUID()}.json`, JSON.stringify({ result, 'source-map-cache': {} }));
    });
  };
  process.once('exit', write);
  // A signal the CLI does not handle ends the process without 'exit': write, then die of it.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    const onSignal = () => {
      if (process.listenerCount(signal) > 1) return;
      write();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
