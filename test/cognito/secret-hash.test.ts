import { createHmac } from 'node:crypto';
import t from 'tap';
import { secretHash } from '../../src/cognito/secret-hash.js';

t.test('SECRET_HASH is base64 HMAC-SHA256 keyed by the client secret over username + client id', async (t) => {
  // Independent computation, as AWS's documentation shows it in Python.
  const expected = createHmac('sha256', Buffer.from('s3cr3t', 'utf8')).update(Buffer.from('alice' + 'client123', 'utf8')).digest('base64');
  t.equal(secretHash('alice', 'client123', 's3cr3t'), expected);
  t.not(secretHash('alice@example.com', 'client123', 's3cr3t'), expected, 'an alias gives another hash: the pool\'s own name must be used on refresh');
  t.match(secretHash('ü', 'c', 'k'), /^[A-Za-z0-9+/]{43}=$/);
});
