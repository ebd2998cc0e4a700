'use strict'

// The OpenFaaS node20 template's handler, deployed as a plain folder (no stack.yml).
module.exports = async (event, context) => {
  const result = {
    status: 'Received input: ' + JSON.stringify(event.body),
    method: event.method,
    path: event.path
  }

  return context
    .status(200)
    .headers({ 'Content-Type': 'application/json' })
    .succeed(result)
}
