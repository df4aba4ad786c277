import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { UpstreamRejectedError } from '../../src/errors.js';
import { createHarness, PROFILE } from '../support/session-harness.js';

t.test("firstRefreshes: resolves once every session's first refresh has ended, failed ones included", async (t) => {
  const slow = await createHarness({ latencyMs: 1000 });
  const signedOut = await createHarness({ signedIn: false, profile: { ...PROFILE, name: 'signed-out' }, like: slow });
  const failing = await createHarness({ profile: { ...PROFILE, name: 'failing' } });
  failing.upstream.getCredentials = async () => {
    throw new UpstreamRejectedError('InvalidParameterException (test)');
  };
  // The slow one last: waiting for the first session alone would not do.
  const broker = new Broker({ defaultProfile: PROFILE.name }, [signedOut.session, failing.session, slow.session]);
  broker.start();
  let over = false;
  const firstRefreshes = broker.firstRefreshes().then(() => (over = true));
  await slow.clock.advance(500);
  t.match(await failing.session.firstRefresh(), { code: 'BRK_ERR_UPSTREAM_REJECTED' }, 'one refresh failed');
  t.equal(signedOut.session.phase, 'signed-out', 'one profile has no session at all');
  t.equal(over, false, 'not while a refresh waits for Cognito');
  await slow.clock.advance(5000);
  await firstRefreshes;
  t.equal(slow.session.phase, 'ready', 'over once the slow one is');
  await broker.stop();
});
