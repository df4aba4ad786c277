import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { createHarness, PROFILE } from '../support/session-harness.js';

t.test("firstRefreshes: resolves once every session's first refresh has ended, failed ones included", async (t) => {
  const slow = await createHarness({ latencyMs: 1000 });
  const signedOut = await createHarness({ signedIn: false, profile: { ...PROFILE, name: 'other' }, like: slow });
  const broker = new Broker({ defaultProfile: PROFILE.name }, [slow.session, signedOut.session]);
  broker.start();
  let over = false;
  const firstRefreshes = broker.firstRefreshes().then(() => (over = true));
  await slow.clock.advance(500);
  t.equal(over, false, 'not while a refresh waits for Cognito');
  t.equal(signedOut.session.phase, 'signed-out', 'though the signed-out profile is done');
  await slow.clock.advance(5000);
  await firstRefreshes;
  t.equal(slow.session.phase, 'ready');
  await broker.stop();
});
