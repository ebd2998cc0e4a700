'use strict'

// The OpenFaaS secrets pattern: the secret is a file under /var/openfaas/secrets, read once.
const fs = require('fs')

const apiKey = fs.readFileSync('/var/openfaas/secrets/api-key', 'utf8').trim()

module.exports = async (event, context) => {
  if (event.headers['x-api-key'] !== apiKey) {
    return context.status(401).succeed('unauthorized')
  }
  return context.status(200).succeed({ ok: true, user: event.query.user || 'anonymous' })
}
