import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { clientEnv } from '../support/aws-clients.js';
import { requireSecretService, startBrokerEnv } from '../support/broker-env.js';
import { runCli, startServe } from '../support/cli.js';
import { withoutTapHooks } from '../../testkit/children.js';

const run = promisify(execFile);

const LIFETIME_S = 60;
/** Three lifetimes: every token and credential set is replaced at least three times. */
const DURATION_MS = 3 * LIFETIME_S * 1000 + 10_000;
/** The scaled floor for 60-second credentials is 15 s (a quarter of the lifetime). */
const FLOOR_MS = 15_000;

// A long-lived JS SDK process: one STS client, the default chain, a signed call every
// second; the STS stub refuses expired credentials, so every success was valid.
const JS_LOOP = `
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
const sts = new STSClient({ region: process.env.REGION, endpoint: process.env.STS_URL, maxAttempts: 1 });
const until = Date.now() + Number(process.env.DURATION_MS);
let ok = 0, failed = 0; const errors = [];
while (Date.now() < until) {
  try { await sts.send(new GetCallerIdentityCommand({})); ok++; } catch (e) { failed++; errors.push(e.name + ': ' + e.message); }
  await new Promise((r) => setTimeout(r, 1000));
}
console.log(JSON.stringify({ ok, failed, errors: errors.slice(0, 5) }));
`;

const BOTO3_LOOP = `
import boto3, json, os, time
sts = boto3.Session(region_name=os.environ['REGION']).client('sts', endpoint_url=os.environ['STS_URL'])
until = time.time() + int(os.environ['DURATION_MS']) / 1000
ok = failed = 0; errors = []
while time.time() < until:
    try:
        sts.get_caller_identity(); ok += 1
    except Exception as e:
        failed += 1; errors.append(repr(e))
    time.sleep(1)
print(json.dumps({'ok': ok, 'failed': failed, 'errors': errors[:5]}))
`;
import { REPO } from '../support/paths.js';

t.test('with 60-second lifetimes, credentials change before they expire and no client ever gets an expired one', async (t) => {
  if (!requireSecretService(t)) return;
  const be = await startBrokerEnv({ idTokenLifetimeSeconds: LIFETIME_S, credentialLifetimeSeconds: LIFETIME_S });
  t.teardown(() => be.stop());
  const { stack } = be;
  const login = await runCli(['login', '--password-stdin'], be.env, stack.password);
  t.equal(login.code, 0, login.stderr);
  const serve = await startServe([], be.env);
  t.teardown(() => serve.stop());
  const { exports } = serve;

  const env = { ...clientEnv(be.env, exports, ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']), REGION: stack.region, STS_URL: stack.stsUrl, DURATION_MS: String(DURATION_MS) };
  const js = run(...withoutTapHooks(process.execPath, ['--input-type=module', '-e', JS_LOOP]), { cwd: REPO, env: { ...env, NODE_NO_WARNINGS: '1' } });
  const boto = run('python3', ['-c', BOTO3_LOOP], { env });

  // Meanwhile, poll the endpoint itself twice a second.
  const seen = new Map<string, number>();
  let leastLeftMs = Infinity;
  let leastTokenLeftMs = Infinity;
  let failures = 0;
  // The master: serve's own token opens the credentials only, not /token.
  const headers = { authorization: serve.master() };
  const until = Date.now() + DURATION_MS;
  while (Date.now() < until) {
    const [c, tk] = await Promise.all([
      fetch(exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string, { headers }),
      fetch((exports.AWS_CONTAINER_CREDENTIALS_FULL_URI as string).replace('/credentials', '/token'), { headers }),
    ]);
    if (c.status !== 200 || tk.status !== 200) {
      failures += 1;
    } else {
      const body = (await c.json()) as { AccessKeyId: string; Expiration: string };
      const token = (await tk.json()) as { Expiration: string };
      const now = Date.now();
      leastLeftMs = Math.min(leastLeftMs, Date.parse(body.Expiration) - now);
      leastTokenLeftMs = Math.min(leastTokenLeftMs, Date.parse(token.Expiration) - now);
      if (!seen.has(body.AccessKeyId)) seen.set(body.AccessKeyId, Date.parse(body.Expiration));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  t.equal(failures, 0, 'every poll answered 200');
  t.ok(leastLeftMs >= FLOOR_MS - 1000, `least time left on served credentials: ${leastLeftMs} ms (floor ${FLOOR_MS})`);
  t.ok(leastTokenLeftMs >= FLOOR_MS - 1000, `least time left on a served ID token: ${leastTokenLeftMs} ms`);
  t.ok(seen.size >= 6, `credentials were replaced every half lifetime: ${seen.size} sets in ${DURATION_MS / 1000} s`);

  const jsResult = JSON.parse((await js).stdout) as { ok: number; failed: number; errors: string[] };
  const botoResult = JSON.parse((await boto).stdout) as { ok: number; failed: number; errors: string[] };
  t.same({ failed: jsResult.failed, errors: jsResult.errors }, { failed: 0, errors: [] }, `JS SDK: ${jsResult.ok} signed calls, none refused`);
  t.same({ failed: botoResult.failed, errors: botoResult.errors }, { failed: 0, errors: [] }, `boto3: ${botoResult.ok} signed calls, none refused`);
  t.ok(jsResult.ok > 100 && botoResult.ok > 100, 'both clients kept calling throughout');
  const expiredSeen = stack.sts.requests.filter((r) => r.outcome !== 'ok');
  t.same(expiredSeen.map((r) => r.outcome), [], 'the STS stub saw no expired or unknown credentials');
  t.equal(stack.emulator.calls.GetId, 1, 'GetId once for the whole session');
});
