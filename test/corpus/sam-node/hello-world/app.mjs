/**
 * Sample Lambda function which mocks the operation of checking the current price of a stock.
 * @param {Object} event - API Gateway Lambda Proxy Input Format
 * @param {Object} context
 * @returns {Object} object - API Gateway Lambda Proxy Output Format
 */
export const lambdaHandler = async (event, context) => {
  const response = {
    statusCode: 200,
    body: JSON.stringify({
      message: 'hello world',
      stage: process.env.STAGE,
      table: process.env.TABLE,
      timeoutMs: Math.round(context.getRemainingTimeInMillis() / 1000) * 1000,
    }),
  };

  return response;
};
