// Calls a Lambda-style handler the ways Lambda's Node runtime lets it answer: a returned promise, the
// callback `(event, context, callback)`, or the legacy `context.succeed/fail/done`. The first answer wins.
import type { LambdaContext } from './lambda-style.js';

// biome-ignore lint/suspicious/noExplicitAny: handlers are user code of any shape
type Handler = (...args: any[]) => unknown;

/**
 * Resolves with the handler's result or rejects with its error. A handler that returns a value that is not
 * a promise answers with it when it takes fewer than three parameters (Lambda would ignore it and answer
 * null); one that returns nothing waits for its callback or `context.succeed/fail/done` — Lambda would
 * also end it when its event loop empties, which one process serving many calls cannot see — so a
 * handler that never answers meets its timeout.
 */
export function callLambda(fn: Handler, event: unknown, context: LambdaContext): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const done = (err?: unknown, result?: unknown): void => {
      if (answered) return;
      answered = true;
      if (err === undefined || err === null) resolve(result);
      else reject(err);
    };
    context.done = done;
    context.succeed = (result?: unknown) => done(null, result);
    context.fail = (err?: unknown) => done(err ?? new Error('context.fail() was called'));
    let returned: unknown;
    try {
      returned = fn(event, context, done);
    } catch (err) {
      done(err ?? new Error('the handler threw'));
      return;
    }
    if (isThenable(returned)) {
      returned.then(
        (result) => done(null, result),
        (err: unknown) => done(err ?? new Error('the handler rejected')),
      );
    } else if (returned !== undefined && fn.length < 3) {
      done(null, returned);
    }
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
