'use strict';
// The pre-async Lambda style: CommonJS, exports.handler with a callback, an npm dependency.
const _ = require('lodash');

exports.handler = function (event, context, callback) {
  let input;
  try {
    input = JSON.parse(event.body || '{}');
  } catch (err) {
    callback(null, { statusCode: 400, body: `bad JSON: ${err.message}` });
    return;
  }
  const words = _.words(String(input.text || ''));
  callback(null, {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      title: words.map(_.capitalize).join(' '),
      count: words.length,
      fn: context.functionName,
    }),
  });
};
