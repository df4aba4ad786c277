import { PassThrough } from 'node:stream';
import t from 'tap';
import { challengeAsker, parseMfaMethod, StdinLines } from '../../src/cli/prompt.js';

const io = () => {
  const lines: string[] = [];
  return { lines, io: { stdout: (s: string) => void lines.push(s), stderr: (s: string) => void lines.push(s) } };
};

t.test('StdinLines reads a line at a time, only when asked, with or without a final newline', async (t) => {
  const stream = new PassThrough();
  const lines = new StdinLines(stream);
  stream.write('pass word\r\nsecond');
  t.equal(await lines.next(), 'pass word');
  const pending = lines.next();
  stream.end('-line\n');
  t.equal(await pending, 'second-line');
  t.equal(await lines.next(), undefined);
});

t.test('--mfa-code CODE answers a code question once; a refused code fails instead of asking again', async (t) => {
  const { io: out } = io();
  const ask = challengeAsker({ mfaCode: ' 123456 ', io: out });
  t.equal(await ask({ kind: 'mfa-code', method: 'TOTP' }), '123456');
  t.equal(await ask({ kind: 'totp-setup', secretCode: 'K', uri: 'otpauth://totp/x', refused: undefined }).catch(() => 'shown'), '123456');
  await t.rejects(ask({ kind: 'mfa-code', method: 'SMS', refused: 'Invalid code received for user' }), { code: 'BRK_ERR_MFA_CODE_MISMATCH', message: /--mfa-code was refused: Invalid code received for user/ });
});

t.test('--mfa-code - reads the code from the next stdin line after saying what it waits for', async (t) => {
  const stream = new PassThrough();
  const stdin = new StdinLines(stream);
  const { io: out, lines } = io();
  const ask = challengeAsker({ mfaCode: '-', stdin, io: out });
  const answer = ask({ kind: 'mfa-code', method: 'SMS', destination: '+*******0100' });
  await new Promise((resolve) => setImmediate(resolve));
  t.match(lines.join(''), /Enter the code sent by SMS to \+\*+0100 \(reading a line from standard input\)/);
  stream.write('654321\n');
  t.equal(await answer, '654321');
  stream.end();
  await t.rejects(ask({ kind: 'mfa-code', method: 'EMAIL' }), { code: 'BRK_ERR_MFA_CODE_MISMATCH', message: /No MFA code on standard input/ });
});

t.test('without a terminal, every question that needs one names the non-interactive way', async (t) => {
  t.notOk(process.stdin.isTTY, 'tests run without a terminal');
  const { io: out } = io();
  const ask = challengeAsker({ io: out });
  await t.rejects(ask({ kind: 'mfa-code', method: 'TOTP' }), { code: 'BRK_ERR_NO_TERMINAL', message: /--mfa-code CODE/ });
  await t.rejects(ask({ kind: 'new-password' }), { code: 'BRK_ERR_NO_TERMINAL', message: /a new password/ });
  await t.rejects(ask({ kind: 'attribute', name: 'name' }), { code: 'BRK_ERR_NO_TERMINAL', message: /"name"/ });
  await t.rejects(ask({ kind: 'mfa-method', options: ['SMS', 'TOTP'] }), { code: 'BRK_ERR_NO_TERMINAL', message: /--mfa-method/ });
});

t.test('the MFA method comes from --mfa-method, or with a code given ahead, the authenticator app', async (t) => {
  const { io: out } = io();
  t.equal(await challengeAsker({ mfaMethod: 'EMAIL', io: out })({ kind: 'mfa-method', options: ['SMS', 'EMAIL'] }), 'EMAIL');
  t.equal(await challengeAsker({ mfaCode: '123456', io: out })({ kind: 'mfa-method', options: ['SMS', 'TOTP'] }), 'TOTP');
  t.equal(await challengeAsker({ mfaCode: '123456', io: out })({ kind: 'mfa-method', options: ['EMAIL', 'SMS'] }), 'EMAIL');
  t.equal(parseMfaMethod('TOTP'), 'TOTP');
  t.equal(parseMfaMethod('sms'), 'SMS');
  t.equal(parseMfaMethod('fax'), undefined);
});
