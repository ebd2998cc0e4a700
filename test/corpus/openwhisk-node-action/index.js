// Counts the words of params.payload, as OpenWhisk's wordcount sample does; the count per word too.
function count(text) {
  const words = String(text).toLowerCase().match(/[a-z']+/g) || [];
  const each = {};
  for (const word of words) each[word] = (each[word] || 0) + 1;
  return { count: words.length, words: each };
}

function main(params) {
  if (params.payload === undefined) return { error: 'payload is required' };
  const result = count(params.payload);
  console.log(`The message '${params.payload}' has ${result.count} words`);
  return result;
}

exports.main = main;
