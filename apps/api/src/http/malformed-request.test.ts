import { RequestError } from '@hono/node-server'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { unparsableRequestHandler } from './malformed-request.js'

const handlerWithLog = () => {
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  return { handle: unparsableRequestHandler(logger, 'r1'), lines }
}

describe('unparsableRequestHandler', () => {
  it('answers a request the adapter could not build with a JSON 400, quietly', async () => {
    const { handle, lines } = handlerWithLog()
    const response = handle(new RequestError('Invalid host header'))
    expect(response.status).toBe(400)
    expect(response.headers.get('x-replica-id')).toBe('r1')
    expect(await response.json()).toEqual({
      success: false,
      error: { code: 'BAD_REQUEST', message: 'The request is malformed: Invalid host header' },
    })
    expect(lines).toEqual([])
  })

  it('answers anything else with the JSON 500, logged, without its details', async () => {
    const { handle, lines } = handlerWithLog()
    const response = handle(new TypeError('secret internals'))
    expect(response.status).toBe(500)
    const body = await response.text()
    expect(JSON.parse(body)).toEqual({
      success: false,
      error: { code: 'INTERNAL', message: 'Internal error' },
    })
    expect(body).not.toContain('secret')
    expect(lines.join('')).toContain('secret internals')
  })
})
