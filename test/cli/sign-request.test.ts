import t from 'tap';
import { inferSigningScope, signRequest } from '../../src/cli/sign-request.js';
import { parseHeaders } from '../../src/cli/request.js';

t.test('the signing scope is read from API Gateway, Lambda function URL and regional AWS hosts', async (t) => {
  t.same(inferSigningScope('abc123defg.execute-api.eu-west-1.amazonaws.com'), { service: 'execute-api', region: 'eu-west-1' });
  t.same(inferSigningScope('ABC123.Execute-Api.us-gov-west-1.amazonaws.com'), { service: 'execute-api', region: 'us-gov-west-1' });
  t.same(inferSigningScope('abc123-vpce-0123abcd.execute-api.eu-west-1.vpce.amazonaws.com'), { service: 'execute-api', region: 'eu-west-1' });
  t.same(inferSigningScope('xyzabc123.lambda-url.ap-southeast-2.on.aws'), { service: 'lambda', region: 'ap-southeast-2' });
  t.same(inferSigningScope('sts.us-east-1.amazonaws.com'), { service: 'sts', region: 'us-east-1' });
  t.same(inferSigningScope('api.example.com'), {}, 'a custom domain names nothing');
  t.same(inferSigningScope('127.0.0.1'), {});
  t.same(inferSigningScope('execute-api.amazonaws.com.evil.example'), {});
});

t.test('signs as the SDK does: the signature depends on every signed part', async (t) => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session' };
  const scope = { service: 'execute-api', region: 'us-east-1' };
  const date = new Date('2026-01-02T03:04:05Z');
  const base = { method: 'POST', url: new URL('https://abc.execute-api.us-east-1.amazonaws.com/prod/a b?x=1&y=2'), headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') };
  const signed = await signRequest(base, scope, credentials, date);
  t.match(signed, {
    host: 'abc.execute-api.us-east-1.amazonaws.com',
    'x-amz-date': '20260102T030405Z',
    'x-amz-security-token': 'session',
    'x-amz-content-sha256': '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    authorization: /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260102\/us-east-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
  });
  t.equal((await signRequest(base, scope, credentials, date)).authorization, signed.authorization, 'deterministic');
  const variants = [
    { ...base, body: Buffer.from('{ }') },
    { ...base, method: 'PUT' },
    { ...base, url: new URL('https://abc.execute-api.us-east-1.amazonaws.com/prod/a b?x=1&y=3') },
    { ...base, headers: { 'content-type': 'text/plain' } },
  ];
  for (const v of variants) t.not((await signRequest(v, scope, credentials, date)).authorization, signed.authorization);
  t.not((await signRequest(base, { ...scope, region: 'eu-west-1' }, credentials, date)).authorization, signed.authorization);
});

t.test('-H lines: names lower-cased, repeats joined, malformed ones refused', async (t) => {
  t.same(parseHeaders(['Content-Type: application/json', 'X-A: 1', 'x-a:2']), { 'content-type': 'application/json', 'x-a': '1, 2' });
  t.throws(() => parseHeaders(['no colon']), /Name: value/);
  t.throws(() => parseHeaders([': empty name']), /Name: value/);
  t.throws(() => parseHeaders(['Bad Name: x']), /Name: value/);
});
