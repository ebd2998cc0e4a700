// Calls another function through the AWS SDK v3, which Lambda's Node runtime provides (so it is only a
// devDependency here): region, endpoint and credentials come from the environment.
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

const lambda = new LambdaClient({});

export const handler = async (event) => {
  const order = JSON.parse(event.body ?? '{}');
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: process.env.PRICING_FUNCTION,
      Payload: JSON.stringify({ items: order.items ?? [] }),
    }),
  );
  const price = JSON.parse(Buffer.from(out.Payload).toString('utf8'));
  return {
    statusCode: out.FunctionError ? 502 : 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ order: order.id, ...price }),
  };
};
