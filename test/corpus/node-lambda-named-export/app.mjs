// A Lambda handler exported under its own name, as `sam init` writes it; nimbus.yml names it.
export const lambdaHandler = async (event) => ({
  statusCode: 200,
  body: JSON.stringify({ message: 'hello world', method: event.requestContext.http.method }),
});

export const helper = (value) => String(value).trim();
