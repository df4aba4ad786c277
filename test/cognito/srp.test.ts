import { randomBytes } from 'node:crypto';
import t from 'tap';
import {
  claimSignature,
  createPasswordVerifier,
  deriveClaimKey,
  deviceVerifierFromConfig,
  padHex,
  parseSrpTimestamp,
  signaturesEqual,
  startSrpExchange,
} from '../../testkit/emulators/user-pool/srp-server.js';
import { createDeviceSecrets, srpTimestamp, startDeviceSrp, startPasswordSrp } from '../../src/cognito/srp.js';

const POOL_ID = 'eu-west-1_PoolAbc12';
const POOL_NAME = 'PoolAbc12';

t.test('the SRP timestamp is Cognito\'s exact form: English names, day not zero-padded, 24-hour UTC', async (t) => {
  t.equal(srpTimestamp(Date.UTC(2026, 10, 2, 14, 5, 9)), 'Mon Nov 2 14:05:09 UTC 2026');
  t.equal(srpTimestamp(Date.UTC(2025, 0, 5, 0, 0, 0)), 'Sun Jan 5 00:00:00 UTC 2025', 'midnight is 00, not 24');
  t.equal(srpTimestamp(Date.UTC(2024, 1, 29, 23, 59, 59)), 'Thu Feb 29 23:59:59 UTC 2024');
  // Every day of a year parses back to itself with the server side's strict parser.
  for (let day = 0; day < 366; day += 1) {
    const at = Date.UTC(2028, 0, 1) + day * 86_400_000 + day * 7_919_000 % 86_400_000;
    const stamp = srpTimestamp(at);
    t.equal(parseSrpTimestamp(stamp), Math.floor(at / 1000) * 1000, stamp);
  }
});

/** A PASSWORD_VERIFIER challenge as the server sends it, and a check of the answer. */
function passwordChallenge(userIdForSrp: string, password: string) {
  const { saltHex, verifier } = createPasswordVerifier(POOL_NAME, userIdForSrp, password);
  const exchange = startSrpExchange(verifier);
  const secretBlock = randomBytes(64).toString('base64');
  const parameters = { SALT: saltHex, SRP_B: padHex(exchange.B), SECRET_BLOCK: secretBlock, USER_ID_FOR_SRP: userIdForSrp, USERNAME: userIdForSrp };
  const verify = (srpA: string, answer: Record<string, string>): boolean => {
    const key = deriveClaimKey(exchange, srpA);
    if (!key || answer.PASSWORD_CLAIM_SECRET_BLOCK !== secretBlock || !answer.TIMESTAMP || !answer.PASSWORD_CLAIM_SIGNATURE) return false;
    return signaturesEqual(claimSignature(key, [POOL_NAME, userIdForSrp], secretBlock, answer.TIMESTAMP), answer.PASSWORD_CLAIM_SIGNATURE);
  };
  return { parameters, verify };
}

t.test('the password proof is accepted by an independent SRP server, computed with USER_ID_FOR_SRP', async (t) => {
  const at = Date.UTC(2026, 2, 7, 9, 3, 1);
  // Signed in with an email alias; the pool's own name for the user is a UUID.
  const srp = startPasswordSrp('alice@example.com', 'Corr3ct horse!', POOL_ID, () => at);
  const challenge = passwordChallenge('6f1c2d3e-aaaa-bbbb-cccc-1234567890ab', 'Corr3ct horse!');
  const answer = srp.answer(challenge.parameters);
  t.equal(answer.TIMESTAMP, 'Sat Mar 7 09:03:01 UTC 2026');
  t.ok(challenge.verify(srp.srpA, answer), 'proof verified');
  t.notOk('PASSWORD' in answer, 'the password itself is not sent');
  t.notOk(JSON.stringify(answer).includes('Corr3ct'), 'nor any part of it');

  const wrong = startPasswordSrp('alice@example.com', 'not the password', POOL_ID, () => at);
  t.notOk(challenge.verify(wrong.srpA, wrong.answer(challenge.parameters)), 'a wrong password gives a proof the server refuses');
});

t.test('a challenge without SRP_B or with SRP_B = 0 is a malformed answer, not a crash', async (t) => {
  const srp = startPasswordSrp('alice', 'pw', POOL_ID);
  const { parameters } = passwordChallenge('alice', 'pw');
  t.throws(() => srp.answer({ ...parameters, SRP_B: '' }), { code: 'BRK_ERR_UPSTREAM_MALFORMED' });
  t.throws(() => srp.answer({ ...parameters, SRP_B: '000' }), { code: 'BRK_ERR_UPSTREAM_MALFORMED' });
});

t.test('a new device\'s verifier lets the server check device proofs; the device password is never sent', async (t) => {
  const deviceKey = 'eu-west-1_7a1b2c3d-1111-2222-3333-444455556666';
  const deviceGroupKey = '-abcDEF123';
  const secrets = createDeviceSecrets(deviceKey, deviceGroupKey);
  t.ok(secrets.devicePassword.length >= 40, 'a long random device password');
  const stored = deviceVerifierFromConfig(secrets.passwordVerifier, secrets.salt);
  if (!stored) throw new Error('the server could not read the verifier');

  const exchange = startSrpExchange(stored.verifier);
  const secretBlock = randomBytes(48).toString('base64');
  const device = { deviceKey, deviceGroupKey, devicePassword: secrets.devicePassword };
  const srp = startDeviceSrp(device, POOL_ID, () => Date.UTC(2026, 0, 1, 12, 0, 0));
  // DEVICE_PASSWORD_VERIFIER, without DEVICE_KEY in its parameters: our own key is used.
  const answer = srp.answer({ SALT: stored.saltHex, SRP_B: padHex(exchange.B), SECRET_BLOCK: secretBlock, USERNAME: 'alice' });
  const key = deriveClaimKey(exchange, srp.srpA);
  if (!key) throw new Error('no key');
  t.equal(answer.DEVICE_KEY, deviceKey);
  t.ok(signaturesEqual(claimSignature(key, [deviceGroupKey, deviceKey], secretBlock, answer.TIMESTAMP as string), answer.PASSWORD_CLAIM_SIGNATURE as string), 'device proof verified');
  t.notOk(JSON.stringify(answer).includes(secrets.devicePassword));

  const other = startDeviceSrp({ ...device, devicePassword: 'guessed' }, POOL_ID);
  const bad = other.answer({ SALT: stored.saltHex, SRP_B: padHex(exchange.B), SECRET_BLOCK: secretBlock });
  const otherKey = deriveClaimKey(exchange, other.srpA) as Buffer;
  t.notOk(signaturesEqual(claimSignature(otherKey, [deviceGroupKey, deviceKey], secretBlock, bad.TIMESTAMP as string), bad.PASSWORD_CLAIM_SIGNATURE as string));
});
