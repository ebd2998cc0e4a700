// SigV4 verification: AWS's published get-vanilla vector, the SDK's double-encoded paths and sorted
// queries, and every way a request is refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  canonicalPath,
  canonicalQuery,
  type SignedRequestParts,
  signature,
  verifySigV4,
} from '../../src/gateway/lambda/sigv4.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const AT = Date.UTC(2015, 7, 30, 12, 36, 0);

test("AWS's get-vanilla vector signs and verifies", () => {
  const headers = { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' };
  const sig = signature(
    { method: 'GET', url: '/', bodySha256: EMPTY_SHA256, headers },
    ['host', 'x-amz-date'],
    {
      secret: SECRET,
      date: '20150830',
      region: 'us-east-1',
      service: 'service',
      amzDate: '20150830T123600Z',
    },
    EMPTY_SHA256,
  );
  assert.equal(sig, '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  const parts: SignedRequestParts = {
    method: 'GET',
    url: '/',
    bodySha256: EMPTY_SHA256,
    headers: {
      ...headers,
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}`,
    },
  };
  const secretOf = (id: string) => (id === 'AKIDEXAMPLE' ? SECRET : undefined);
  assert.deepEqual(verifySigV4(parts, secretOf, { service: 'service', now: AT }), {
    ok: true,
    accessKeyId: 'AKIDEXAMPLE',
    region: 'us-east-1',
  });
  const refused = (p: SignedRequestParts, now = AT, service = 'service') => {
    const r = verifySigV4(p, secretOf, { service, now });
    assert.equal(r.ok, false);
    return (r as { type: string }).type;
  };
  assert.equal(refused({ ...parts, url: '/other' }), 'InvalidSignatureException');
  assert.equal(
    refused({
      ...parts,
      bodySha256: 'f'.repeat(64),
      headers: { ...parts.headers, 'x-amz-content-sha256': EMPTY_SHA256 },
    }),
    'InvalidSignatureException',
  );
  assert.equal(refused(parts, AT + 16 * 60_000), 'InvalidSignatureException');
  assert.equal(refused(parts, AT, 'lambda'), 'InvalidSignatureException');
  assert.equal(
    refused({
      ...parts,
      headers: {
        ...parts.headers,
        authorization: parts.headers.authorization!.replace('AKIDEXAMPLE', 'NOBODY'),
      },
    }),
    'UnrecognizedClientException',
  );
  assert.equal(refused({ ...parts, headers: { host: 'h' } }), 'MissingAuthenticationTokenException');
  assert.equal(
    refused({ ...parts, headers: { ...parts.headers, authorization: 'AWS4-HMAC-SHA256 Credential=x' } }),
    'IncompleteSignatureException',
  );
});

test('canonical paths are escaped again (non-S3), dot segments removed; queries sorted and escaped', () => {
  assert.equal(
    canonicalPath('/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Ahello/invocations'),
    '/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A1%253Afunction%253Ahello/invocations',
  );
  assert.equal(canonicalPath('/a/./b/../c/'), '/a/c/');
  assert.equal(canonicalPath('/'), '/');
  assert.equal(canonicalQuery('MaxItems=50&Marker=a%20b&A=2&A=1'), 'A=1&A=2&Marker=a%20b&MaxItems=50');
  assert.equal(canonicalQuery("x=it's"), 'x=it%27s');
});
