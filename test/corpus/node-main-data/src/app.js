const fs = require('fs');
const path = require('path');

const greeting = fs.readFileSync(path.join(__dirname, 'greeting.txt'), 'utf8').trim();

exports.handler = async (event) => {
  const name = (event.queryStringParameters && event.queryStringParameters.name) || 'world';
  return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: `${greeting}, ${name}` };
};
