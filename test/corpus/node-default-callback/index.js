// A Lambda handler in the callback style, exported as the module's default.
export default function (event, context, callback) {
  const name = event.queryStringParameters?.name ?? 'world';
  setTimeout(() => {
    callback(null, {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ greeting: `hello ${name}`, requestId: context.awsRequestId.length > 0 }),
    });
  }, 1);
}
