'use strict'

const bcrypt = require('bcrypt')

module.exports = async (event, context) => {
  const rounds = Number(process.env.BCRYPT_ROUNDS || 10)
  const hash = await bcrypt.hash(event.body.password, rounds)
  const result = {
    ok: await bcrypt.compare(event.body.password, hash),
    wrong: await bcrypt.compare('not the password', hash),
    prefix: hash.slice(0, 4)
  }
  return context
    .status(200)
    .succeed(result)
}
