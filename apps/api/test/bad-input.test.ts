import { beforeAll, describe, expect, it } from 'vitest'
import { read, startCluster, write } from './harness.js'

const {
  replicas: [api],
} = await startCluster({})
await write(api, 'existing', 'original')

/** What the table holds, straight from PostgreSQL, to prove a refused request changed nothing. */
const snapshot = () => api.deps.db.sql`SELECT key, value, version FROM records ORDER BY key`

/** In-process through the router, or over a real socket to the server's own listener. */
let overSocket = false
const send = (path: string, init?: RequestInit) =>
  overSocket ? api.overSocket(path, init) : api.request(path, init)

const post = (path: string, body: string | Uint8Array, contentType = 'application/json') =>
  send(path, { method: 'POST', headers: { 'Content-Type': contentType }, body })

const MiB = 1024 * 1024
const cases: [name: string, send: () => Promise<Response>, status: number, code: string][] = [
  ['malformed JSON', () => post('/write', '{"key": "a", "value": '), 400, 'INVALID_JSON'],
  ['an empty body', () => post('/write', ''), 400, 'INVALID_JSON'],
  ['a JSON array', () => post('/write', '[{"key":"a","value":"b"}]'), 400, 'VALIDATION_FAILED'],
  ['a JSON string', () => post('/write', '"key"'), 400, 'VALIDATION_FAILED'],
  ['null', () => post('/write', 'null'), 400, 'VALIDATION_FAILED'],
  ['a numeric value', () => post('/write', '{"key":"a","value":5}'), 400, 'VALIDATION_FAILED'],
  ['a numeric key', () => post('/write', '{"key":5,"value":"x"}'), 400, 'VALIDATION_FAILED'],
  [
    'an object value',
    () => post('/write', '{"key":"a","value":{"x":1}}'),
    400,
    'VALIDATION_FAILED',
  ],
  ['a missing value', () => post('/write', '{"key":"a"}'), 400, 'VALIDATION_FAILED'],
  ['a missing key', () => post('/write', '{"value":"a"}'), 400, 'VALIDATION_FAILED'],
  ['an empty key', () => post('/write', '{"key":"","value":"a"}'), 400, 'VALIDATION_FAILED'],
  [
    'a 257-character key',
    () => post('/write', JSON.stringify({ key: 'k'.repeat(257), value: 'a' })),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a key with a NUL',
    () => post('/write', JSON.stringify({ key: 'a\u0000b', value: 'a' })),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a key with a newline',
    () => post('/write', JSON.stringify({ key: 'a\nb', value: 'a' })),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a key with DEL',
    () => post('/write', JSON.stringify({ key: 'a\u007fb', value: 'a' })),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a key with a lone surrogate',
    () => post('/write', '{"key":"a\\ud800","value":"a"}'),
    400,
    'VALIDATION_FAILED',
  ],
  ['the key "."', () => post('/write', '{"key":".","value":"a"}'), 400, 'VALIDATION_FAILED'],
  ['the key ".."', () => post('/write', '{"key":"..","value":"a"}'), 400, 'VALIDATION_FAILED'],
  [
    'a value with a NUL',
    () => post('/write', '{"key":"existing","value":"a\\u0000b"}'),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a value with a lone surrogate',
    () => post('/write', '{"key":"existing","value":"\\udfff"}'),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a delete of a key with a lone surrogate',
    () => post('/delete', '{"key":"\\ud800"}'),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a __proto__ field',
    () => post('/write', '{"key":"a","value":"b","__proto__":{"polluted":true}}'),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'a constructor field',
    () => post('/write', '{"key":"a","value":"b","constructor":{"prototype":{}}}'),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'an unknown field',
    () => post('/write', '{"key":"a","value":"b","ttl":5}'),
    400,
    'VALIDATION_FAILED',
  ],
  [
    'invalid UTF-8',
    () =>
      post('/write', new Uint8Array([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
    400,
    'INVALID_UTF8',
  ],
  [
    'text/plain',
    () => post('/write', '{"key":"a","value":"b"}', 'text/plain'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'a form body',
    () => post('/write', 'key=a&value=b', 'application/x-www-form-urlencoded'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'multipart',
    () => post('/write', '--x--', 'multipart/form-data; boundary=x'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'a space before the content type parameters',
    () => post('/write', '{"key":"a","value":"b"}', 'application/json ; charset=utf-8'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'a content type with an empty parameter',
    () => post('/write', '{"key":"a","value":"b"}', 'application/json;'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'no content type',
    () => send('/write', { method: 'POST', body: '{"key":"a","value":"b"}' }),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'a value of 1 MiB + 1 byte',
    () => post('/write', JSON.stringify({ key: 'big', value: 'x'.repeat(MiB + 1) })),
    413,
    'PAYLOAD_TOO_LARGE',
  ],
  [
    'a body far over the limit',
    () => post('/write', JSON.stringify({ key: 'big', value: 'x'.repeat(3 * MiB) })),
    413,
    'PAYLOAD_TOO_LARGE',
  ],
  [
    'a streamed body over the limit with no Content-Length',
    () =>
      send('/write', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(
              new TextEncoder().encode(`{"key":"big","value":"${'x'.repeat(2 * MiB)}"}`),
            )
            controller.close()
          },
        }),
        duplex: 'half',
      } as RequestInit),
    413,
    'PAYLOAD_TOO_LARGE',
  ],
  [
    'a body the client cuts off midway',
    () =>
      api.request('/write', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"key":"cut","value":"'))
            // What node's server reports when the client's connection closes mid-body.
            controller.error(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
          },
        }),
        duplex: 'half',
      } as RequestInit),
    400,
    'BAD_REQUEST',
  ],
  ['delete with malformed JSON', () => post('/delete', '{'), 400, 'INVALID_JSON'],
  ['delete with an empty key', () => post('/delete', '{"key":""}'), 400, 'VALIDATION_FAILED'],
  [
    'delete as text/plain',
    () => post('/delete', '{"key":"existing"}', 'text/plain'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'a read of a 257-character key',
    () => send(`/read/${'k'.repeat(257)}`),
    400,
    'VALIDATION_FAILED',
  ],
  ['a read of a key with a control character', () => send('/read/a%01b'), 400, 'VALIDATION_FAILED'],
  ['an unknown route', () => send('/nope'), 404, 'NOT_FOUND'],
  ['a nested unknown route', () => send('/read/a/b'), 404, 'NOT_FOUND'],
  ['GET /write', () => send('/write'), 405, 'METHOD_NOT_ALLOWED'],
  ['PUT /write', () => send('/write', { method: 'PUT', body: '{}' }), 405, 'METHOD_NOT_ALLOWED'],
  [
    'DELETE /read/{key}',
    () => send('/read/existing', { method: 'DELETE' }),
    405,
    'METHOD_NOT_ALLOWED',
  ],
  ['POST /read/{key}', () => post('/read/existing', '{}'), 405, 'METHOD_NOT_ALLOWED'],
  ['GET /clear-cache', () => send('/clear-cache'), 405, 'METHOD_NOT_ALLOWED'],
]

describe.each([
  ['in process', false],
  ['over a socket', true],
])('bad input, %s', (_transport, socket) => {
  beforeAll(() => {
    overSocket = socket
  })

  it('accepts a JSON content type with parameters', async () => {
    for (const type of ['application/json; charset=utf-8', 'APPLICATION/JSON;charset=UTF-8']) {
      const response = await post('/write', '{"key":"typed","value":"b"}', type)
      expect(response.status, type).toBe(200)
    }
  })

  it.each(cases)(
    'answers %s with the right 4xx as JSON and changes nothing',
    async (_name, send, status, code) => {
      const before = await snapshot()
      const response = await send()
      expect(response.status).toBe(status)
      expect(response.headers.get('content-type')).toContain('application/json')
      const body = (await response.json()) as {
        success: boolean
        error: { code: string; message: string }
      }
      expect(body.success).toBe(false)
      expect(body.error.code).toBe(code)
      expect(body.error.message.length).toBeGreaterThan(5)
      expect(JSON.stringify(body)).not.toMatch(/\bat .+\.(ts|js):\d+/) // no stack trace
      expect(await snapshot()).toEqual(before)
    },
  )

  it('says which methods are allowed on a 405', async () => {
    const response = await api.request('/write', { method: 'GET' })
    expect(response.headers.get('allow')).toBe('POST')
  })

  it('names the offending field', async () => {
    const response = await post('/write', '{"key":"a","value":5}')
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /^value: /,
    )
  })

  it('accepts a value of exactly 1 MiB', async () => {
    const value = 'x'.repeat(MiB)
    const response = await post('/write', JSON.stringify({ key: 'exactly-1mib', value }))
    expect(response.status).toBe(200)
    const back = await read(api, 'exactly-1mib')
    expect((back.body.value as string).length).toBe(MiB)
  })

  it('stores keys that spell prototype names as plain data', async () => {
    await write(api, '__proto__', 'p')
    await write(api, 'constructor', 'c')
    expect((await read(api, '__proto__')).body).toMatchObject({ value: 'p' })
    expect((await read(api, 'constructor')).body).toMatchObject({ value: 'c' })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('stores keys with slashes, spaces and non-ASCII characters', async () => {
    for (const key of ['a/b', 'with space', 'ключ', '🔑', `${'é'.repeat(256)}`]) {
      await write(api, key, key)
      expect((await read(api, key)).body, key).toMatchObject({ key, value: key })
    }
  })
})
