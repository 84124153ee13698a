/**
 * The physical-limit reference: a bare Hono app on @hono/node-server that answers
 * `GET /read/{key}` with the same JSON body and headers as a Strata replica's L1 hit, and does
 * nothing else. `pnpm loadtest:limit` runs three of these behind the same nginx configuration as
 * the stack, so the ratio of the two throughputs is what Strata's read path costs.
 *
 *   node --import tsx loadtests/bare/server.ts --port 8201 --replica-id bare-1 --body-file body.json
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'replica-id': { type: 'string', default: 'bare' },
    'body-file': { type: 'string' },
  },
})
if (!values.port || !values['body-file']) {
  console.error('usage: server.ts --port N --body-file FILE [--replica-id ID] [--host H]')
  process.exit(2)
}
const replicaId = values['replica-id']
/** The body of a real L1 hit, captured from a replica; `key` is set from the request, as the API does. */
const template = JSON.parse(readFileSync(values['body-file'], 'utf8')) as Record<string, unknown>

const app = new Hono()
app.get('/read/:key', (c) => {
  // The API echoes the request id nginx sends; nginx hides it and adds its own. Same bytes here.
  const requestId = c.req.header('X-Request-Id')
  if (requestId) c.header('X-Request-Id', requestId)
  c.header('X-Cache-Level', 'L1')
  c.header('X-Replica-Id', replicaId)
  return c.json({ ...template, key: c.req.param('key') }, 200)
})
app.get('/health/live', (c) => c.json({ status: 'alive' }, 200))

const server = serve({ fetch: app.fetch, port: Number(values.port), hostname: values.host })
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
