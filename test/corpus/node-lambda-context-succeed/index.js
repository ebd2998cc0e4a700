// The oldest Lambda Node style: two parameters, no promise, answered through context.succeed / context.fail.
exports.handler = function (event, context) {
  const n = Number(event.queryStringParameters && event.queryStringParameters.n);
  setImmediate(function () {
    if (!Number.isInteger(n)) {
      context.fail(new Error('n must be a whole number'));
      return;
    }
    context.succeed({ n: n, square: n * n, remaining: context.getRemainingTimeInMillis() > 0 });
  });
};
