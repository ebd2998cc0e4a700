'use strict'

const cows = require('cows')

const all = cows()

module.exports = async (event, context) => {
  const n = event.query.n === undefined ? Math.floor(Math.random() * all.length) : Number(event.query.n)
  return context
    .headers({ 'content-type': 'text/plain' })
    .status(200)
    .succeed(all[n % all.length])
}
