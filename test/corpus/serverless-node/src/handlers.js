'use strict';

const ms = require('ms');

module.exports.getUser = async (event) => {
  return {
    statusCode: 200,
    body: JSON.stringify({
      table: process.env.TABLE_NAME,
      greeting: process.env.GREETING,
      memory: process.env.MEMORY,
      ttl: ms('2 days'),
      path: event.rawPath,
    }),
  };
};

module.exports.nightlyReport = async () => {
  return { report: 'done' };
};
