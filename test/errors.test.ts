import { readFile } from 'node:fs/promises';
import t from 'tap';
import * as errors from '../src/errors.js';
import { repoPath } from './support/paths.js';

/**
 * One instance of every error class with a code of its own (a direct subclass of
 * BrokerError), with placeholder arguments. Refinements (SignInRefusedError, IdentityPoolError…)
 * keep their parent's code; DaemonReportedError carries whatever code the daemon answered with.
 */
function everyError(): errors.BrokerError[] {
  const instances: errors.BrokerError[] = [];
  for (const value of Object.values(errors)) {
    if (typeof value !== 'function' || Object.getPrototypeOf(value) !== errors.BrokerError || value === errors.DaemonReportedError) continue;
    const Make = value as unknown as new (...args: unknown[]) => errors.BrokerError;
    instances.push(new Make('placeholder', [{ path: '$', expected: 'x' }], 'third'));
  }
  return instances;
}

t.test('every error code is listed in docs/errors.md, and every listed code exists', async (t) => {
  const doc = await readFile(repoPath('docs/errors.md'), 'utf8');
  const listed = new Set([...doc.matchAll(/`(BRK_ERR_[A-Z_]+)`/g)].map((m) => m[1]));
  const codes = new Set(everyError().map((e) => e.code));
  t.ok(codes.size >= 20, `found ${codes.size} error classes`);
  for (const code of codes) t.ok(listed.has(code), `${code} is documented`);
  for (const code of listed) t.ok(codes.has(code as string), `${code} in the doc exists in src/errors.ts`);
});

t.test('codes are unique, stable in form, and statuses are HTTP error statuses', async (t) => {
  const all = everyError();
  t.equal(new Set(all.map((e) => e.code)).size, all.length, 'one class per code');
  for (const e of all) {
    t.match(e.code, /^BRK_ERR_[A-Z_]+$/);
    t.ok(e.statusCode >= 400 && e.statusCode < 600, `${e.code} status ${e.statusCode}`);
    t.same(Object.keys(e.toJSON()), ['Code', 'Message']);
  }
});

t.test('refinements keep their parent\'s code, so callers and docs see one code per meaning', async (t) => {
  const refinements = (Object.values(errors) as unknown[]).filter((value): value is new (...args: unknown[]) => errors.BrokerError =>
    typeof value === 'function' && value.prototype instanceof errors.BrokerError && Object.getPrototypeOf(value) !== errors.BrokerError && value !== errors.DaemonReportedError);
  t.ok(refinements.length >= 5, `${refinements.length} refinements`);
  const codes = new Set(everyError().map((e) => e.code));
  for (const Make of refinements) {
    const e = new Make('placeholder', 'message', 'third');
    t.ok(codes.has(e.code), `${Make.name}: ${e.code}, its parent's`);
  }
});
