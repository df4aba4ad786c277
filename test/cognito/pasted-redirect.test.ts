import t from 'tap';
import { readPastedRedirect } from '../../src/cognito/pasted-redirect.js';

const expected = { redirectUri: 'http://127.0.0.1:53682/callback', state: 'the-state-of-this-login' };
const ours = `${expected.redirectUri}?code=the-code&state=${expected.state}`;

t.test('the redirect URI with this login\'s state and a code is the code, as pasted or as an address bar shows it', async (t) => {
  t.same(readPastedRedirect(ours, expected), { kind: 'code', code: 'the-code' });
  t.same(readPastedRedirect(`  "${ours}"\n`, expected), { kind: 'code', code: 'the-code' }, 'spaces and quotes around it');
  t.same(readPastedRedirect(`<${ours}>`, expected), { kind: 'code', code: 'the-code' }, 'angle brackets around it');
  t.same(readPastedRedirect(ours.replace('http://', ''), expected), { kind: 'code', code: 'the-code' }, 'without the scheme');
  t.same(readPastedRedirect(`${expected.redirectUri}?state=${expected.state}&code=c2&session_state=x#frag`, expected), { kind: 'code', code: 'c2' }, 'other parameters and their order do not matter');
  const long = `${expected.redirectUri}?code=${'c'.repeat(6000)}&state=${expected.state}`;
  t.same(readPastedRedirect(long, expected), { kind: 'code', code: 'c'.repeat(6000) }, 'a long address');
});

t.test('a wrong or missing state, another address, no code or not an address are refused, saying why and never showing code or state', async (t) => {
  const cases: [string, RegExp][] = [
    [`${expected.redirectUri}?code=the-code&state=another-login`, /"state" is missing or belongs to another login/],
    [`${expected.redirectUri}?code=the-code`, /"state" is missing/],
    [`${expected.redirectUri}?error=access_denied&state=another-login`, /belongs to another login/],
    [`http://127.0.0.1:9999/callback?code=the-code&state=${expected.state}`, /not the redirect to http:\/\/127\.0\.0\.1:53682\/callback \(it is on http:\/\/127\.0\.0\.1:9999\/callback\)/],
    [`http://localhost:53682/callback?code=the-code&state=${expected.state}`, /not the redirect to/],
    [`https://127.0.0.1:53682/callback?code=the-code&state=${expected.state}`, /not the redirect to/],
    [`http://127.0.0.1:53682/elsewhere?code=the-code&state=${expected.state}`, /not the redirect to/],
    [`https://p.auth.eu-west-1.amazoncognito.com/login?client_id=x&state=${expected.state}`, /not the redirect to/],
    [`${expected.redirectUri}?state=${expected.state}`, /carries no code \(was it cut short\?\)/],
    ['http://[not an address', /not an address; paste the whole address from the browser's address bar, starting with http:\/\/127\.0\.0\.1:53682\/callback/],
    ['   ', /nothing was pasted/],
  ];
  for (const [text, reason] of cases) {
    const answer = readPastedRedirect(text, expected);
    t.equal(answer.kind, 'refused', text.slice(0, 80));
    if (answer.kind !== 'refused') continue;
    t.match(answer.reason, reason);
    t.notOk(answer.reason.includes('the-code') || answer.reason.includes(expected.state), 'neither code nor state in the reason');
  }
});

t.test('the provider\'s error with this login\'s state ends the login with its words, printable', async (t) => {
  t.same(readPastedRedirect(`${expected.redirectUri}?error=access_denied&error_description=User%20said%20no%1b[31m&state=${expected.state}`, expected), { kind: 'error', reason: 'access_denied: User said no?[31m' });
  t.same(readPastedRedirect(`${expected.redirectUri}?error=server_error&state=${expected.state}`, expected), { kind: 'error', reason: 'server_error' });
});
