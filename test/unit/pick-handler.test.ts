// Which export is a Node function's handler and how it is called: the detection rules of docs/functions.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fetchStyle, lambdaStyle, openfaasStyle } from '../../src/runtimes/node/builtin-styles.js';
import { callLambda } from '../../src/runtimes/node/lambda-call.js';
import {
  type LambdaContext,
  lambdaContext,
  lambdaFunctionInfo,
} from '../../src/runtimes/node/lambda-style.js';
import { openwhiskStyle } from '../../src/runtimes/node/openwhisk-style.js';
import { defaultFunctionStyle, parameterNames, pickStyle } from '../../src/runtimes/node/pick-handler.js';

// Written as plain JS functions would be: the parameter names are what detection reads.
/* biome-ignore-start lint/correctness/noUnusedFunctionParameters: the parameters are the subject */
const fetchFn = async (request: unknown) => request;
const fetchEnvCtx = (req: unknown, env: unknown, ctx: unknown) => [req, env, ctx];
const callbackFn = (event: unknown, context: unknown, callback: unknown) => [event, context, callback];
const openfaasFn = async (event: unknown, context: unknown) => [event, context];
const eventOnly = async function handle(evt: unknown) {
  return evt;
};
const anonymous = (x: unknown) => x;
/* biome-ignore-end lint/correctness/noUnusedFunctionParameters: the parameters are the subject */

test('parameter names are read from the source of every function form', () => {
  assert.deepEqual(parameterNames(fetchEnvCtx), ['req', 'env', 'ctx']);
  assert.deepEqual(parameterNames(eventOnly), ['evt']);
  assert.deepEqual(
    parameterNames((a: number, b = 2) => a + b),
    ['a', 'b'],
  );
  assert.deepEqual(
    parameterNames(async function f(first: unknown, /* note */ second: unknown) {
      return [first, second];
    }),
    ['first', 'second'],
  );
  assert.deepEqual(
    parameterNames(function (this: unknown) {}),
    [],
  );
  assert.deepEqual(
    parameterNames(({ body }: { body: unknown }, context: unknown) => [body, context]),
    [],
  );
  assert.deepEqual(parameterNames(Math.max), []);
  assert.deepEqual(parameterNames(fetchFn.bind(null)), []);
  // The single-parameter arrow without parentheses (esbuild keeps it as written).
  assert.deepEqual(parameterNames(new Function('return request => request')() as () => unknown), ['request']);
});

test('a default-exported function: request names win, then three parameters, then event names', () => {
  assert.equal(defaultFunctionStyle(fetchFn), 'fetch');
  assert.equal(defaultFunctionStyle(fetchEnvCtx), 'fetch');
  assert.equal(defaultFunctionStyle(callbackFn), 'lambda');
  assert.equal(defaultFunctionStyle(openfaasFn), 'openfaas');
  assert.equal(defaultFunctionStyle(eventOnly), 'openfaas');
  assert.equal(defaultFunctionStyle(anonymous), 'fetch');
  assert.equal(
    defaultFunctionStyle(() => null),
    'fetch',
  );
  // Native or bound: only the arity is known.
  assert.equal(defaultFunctionStyle(callbackFn.bind(null)), 'lambda');
  assert.equal(defaultFunctionStyle(openfaasFn.bind(null)), 'fetch');
});

const STYLES = [fetchStyle, lambdaStyle, openfaasStyle, openwhiskStyle];
const pick = (mod: Record<string, unknown>, exportName?: string, style?: string) => {
  const picked = pickStyle(STYLES, mod, exportName, style);
  return { style: picked.style.name, fn: picked.handler };
};

test('module shapes pick the handler and style', () => {
  assert.equal(pick({ default: { fetch: fetchFn } }).style, 'fetch');
  assert.equal(pick({ default: fetchFn }).style, 'fetch');
  assert.equal(pick({ default: fetchEnvCtx }).style, 'fetch');
  assert.equal(pick({ default: callbackFn }).style, 'lambda');
  assert.equal(pick({ default: openfaasFn }).style, 'openfaas');
  assert.equal(pick({ default: eventOnly }).style, 'openfaas');
  assert.equal(pick({ handler: openfaasFn }).style, 'lambda');
  assert.equal(pick({ main: anonymous }).style, 'openwhisk');
  // CommonJS: module.exports is the default, once or twice wrapped.
  assert.equal(pick({ default: { handler: callbackFn } }).fn, callbackFn);
  assert.equal(pick({ default: { default: callbackFn } }).style, 'lambda');
  assert.equal(pick({ default: { main: openfaasFn } }).style, 'openwhisk');
  // A named export chosen by the spec, from ESM or from module.exports.
  assert.equal(pick({ lambdaHandler: openfaasFn }, 'lambdaHandler').fn, openfaasFn);
  assert.equal(pick({ default: { main: openfaasFn } }, 'main').style, 'lambda');
  assert.equal(pick({ app: { fetch: fetchFn } }, 'app').style, 'fetch');
  // handlerStyle wins over detection.
  assert.equal(pick({ default: fetchFn }, undefined, 'lambda').style, 'lambda');
  assert.equal(pick({ default: openfaasFn }, undefined, 'fetch').style, 'fetch');
  assert.equal(pick({ default: callbackFn }, undefined, 'fetch').style, 'fetch');
  assert.equal(pick({ handle: openfaasFn }, undefined, 'openfaas').fn, openfaasFn);
});

test('a module without a usable handler fails to load, saying what to set', () => {
  assert.throws(
    () => pick({ lambdaHandler: openfaasFn, VERSION: '1' }),
    /exports "lambdaHandler" but no "handler" and no default: set "handler: FILE\.lambdaHandler" in nimbus\.yml/,
  );
  assert.throws(() => pick({ default: { hello: openfaasFn } }), /set "handler: FILE\.hello"/);
  assert.throws(
    () => pick({ handler: openfaasFn }, 'missing'),
    /no export "missing" \(it exports "handler"\)/,
  );
  assert.throws(() => pick({ handler: 42 }), /no handler found/);
  assert.throws(() => pick({}), /no handler found/);
  assert.throws(() => pick({ default: 'text' }, undefined, 'openfaas'), /no OpenFaaS handler found/);
  assert.throws(() => pick({ default: fetchFn }, undefined, 'nope'), /unknown handler style "nope"/);
  // An Express app (a function of (req, res, next) with listen and use) is not a fetch handler.
  const express = Object.assign((req: unknown, res: unknown, next: unknown) => [req, res, next], {
    listen() {},
    use() {},
  });
  assert.throws(() => pick({ default: express }), /a Node http app .*runtime: http/);
  assert.throws(() => pick({ default: { listen() {}, use() {}, callback() {} } }), /Koa/);
});

function context(timeoutMs = 1000): LambdaContext {
  const info = lambdaFunctionInfo({ name: 'fn', version: 3, memoryMb: 128 }, { AWS_REGION: 'eu-west-1' });
  return lambdaContext(info, ['POST', '/', 'x-call-id', 'call-1'], Date.now() + timeoutMs);
}

test('the Lambda context carries the function, the call id and the real deadline', () => {
  const ctx = context(5000);
  assert.equal(ctx.functionName, 'fn');
  assert.equal(ctx.functionVersion, '3');
  assert.equal(ctx.invokedFunctionArn, 'arn:aws:lambda:eu-west-1:000000000000:function:fn');
  assert.equal(ctx.memoryLimitInMB, '128');
  assert.equal(ctx.awsRequestId, 'call-1');
  assert.equal(ctx.logGroupName, '/aws/lambda/fn');
  assert.equal(ctx.callbackWaitsForEmptyEventLoop, true);
  const remaining = ctx.getRemainingTimeInMillis();
  assert.ok(remaining > 4000 && remaining <= 5000, String(remaining));
  assert.equal(context(-10).getRemainingTimeInMillis(), 0);
});

test('callLambda: every way a handler answers, first answer wins', async () => {
  assert.equal(await callLambda(async () => 'promise', {}, context()), 'promise');
  assert.equal(await callLambda(() => 'sync value', {}, context()), 'sync value');
  assert.equal(
    await callLambda(
      (_e: unknown, _c: unknown, cb: (e: null, r: string) => void) => cb(null, 'cb'),
      {},
      context(),
    ),
    'cb',
  );
  assert.equal(
    await callLambda(
      (_e: unknown, c: LambdaContext) => void setTimeout(() => c.succeed('later'), 1),
      {},
      context(),
    ),
    'later',
  );
  assert.equal(
    await callLambda((_e: unknown, c: LambdaContext) => c.done(undefined, 'done'), {}, context()),
    'done',
  );
  // The callback before the promise resolves; a second answer is ignored.
  assert.equal(
    await callLambda(
      async (_e: unknown, c: LambdaContext, cb: (e: null, r: string) => void) => {
        cb(null, 'first');
        c.succeed('second');
        return 'third';
      },
      {},
      context(),
    ),
    'first',
  );
  // A three-parameter handler's plain return value is not an answer: it waits for the callback.
  assert.equal(
    await callLambda(
      (_e: unknown, _c: unknown, cb: (e: null, r: string) => void) => {
        setTimeout(() => cb(null, 'from callback'), 1);
        return 'ignored';
      },
      {},
      context(),
    ),
    'from callback',
  );
  await assert.rejects(
    callLambda(
      () => {
        throw new Error('thrown');
      },
      {},
      context(),
    ),
    /thrown/,
  );
  await assert.rejects(
    callLambda(async () => Promise.reject(new Error('rejected')), {}, context()),
    /rejected/,
  );
  await assert.rejects(
    callLambda((_e: unknown, c: LambdaContext) => c.fail(new Error('failed')), {}, context()),
    /failed/,
  );
  await assert.rejects(
    callLambda((_e: unknown, c: LambdaContext) => c.fail(), {}, context()),
    /context\.fail\(\) was called/,
  );
  await assert.rejects(
    callLambda((_e: unknown, _c: unknown, cb: (e: string) => void) => cb('plain string'), {}, context()),
    (err: unknown) => err === 'plain string',
  );
});
