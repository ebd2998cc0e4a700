// A Lambda-style handler: the request arrives as a function-URL (payload 2.0) event.
// Try: curl 'http://127.0.0.1:8080/function/greet-lambda?name=Ada'
interface HttpEvent {
  rawPath: string;
  queryStringParameters?: Record<string, string>;
  requestContext: { http: { method: string } };
}

export const handler = async (event: HttpEvent, context: { functionName: string }) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    greeting: `Hello, ${event.queryStringParameters?.name ?? 'world'}!`,
    method: event.requestContext.http.method,
    path: event.rawPath,
    function: context.functionName,
  }),
});
