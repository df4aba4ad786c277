import t from 'tap';
import { readIdTokenClaims } from '../../src/cognito/jwt-claims.js';

const jwt = (claims: Record<string, unknown>) => `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;

t.test('reads exp, iat and iss', async (t) => {
  t.match(readIdTokenClaims(jwt({ exp: 2000, iat: 1000, iss: 'https://cognito-idp.eu-west-1.amazonaws.com/p' })), { exp: 2000, iat: 1000 });
});

t.test('a token that is not a JWT, lacks its times, or ends before it starts is malformed, and not quoted', async (t) => {
  for (const token of ['not-a-jwt', jwt({ iss: 'x' }), jwt({ exp: '2000', iat: 1000, iss: 'x' }), jwt({ exp: 1000, iat: 1000, iss: 'x' })]) {
    const error = (() => {
      try {
        readIdTokenClaims(token);
        return undefined;
      } catch (e) {
        return e as Error & { code: string };
      }
    })();
    t.equal(error?.code, 'BRK_ERR_UPSTREAM_MALFORMED', token);
    t.notOk(error?.message.includes(token), 'the token is not in the message');
  }
});
