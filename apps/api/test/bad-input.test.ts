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
/** The requests of one kind of refusal, by what they try: each must get `status` with `code`. */
const refused = (status: number, code: string, sends: Record<string, () => Promise<Response>>) =>
  Object.entries(sends).map(([name, send]) => [name, send, status, code] as const)

/** Sends each body as a write, keeping its name. */
const writesOf = (bodies: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(bodies).map(([name, body]) => [name, () => post('/write', body)]),
  )

const cases = [
  ...refused(400, 'INVALID_JSON', {
    'malformed JSON': () => post('/write', '{"key": "a", "value": '),
    'an empty body': () => post('/write', ''),
    'delete with malformed JSON': () => post('/delete', '{'),
  }),
  ...refused(400, 'VALIDATION_FAILED', {
    ...writesOf({
      'a JSON array': '[{"key":"a","value":"b"}]',
      'a JSON string': '"key"',
      'a JSON null': 'null',
      'a numeric value': '{"key":"a","value":5}',
      'a numeric key': '{"key":5,"value":"x"}',
      'an object value': '{"key":"a","value":{"x":1}}',
      'a missing value': '{"key":"a"}',
      'a missing key': '{"value":"a"}',
      'an empty key': '{"key":"","value":"a"}',
      'a 257-character key': JSON.stringify({ key: 'k'.repeat(257), value: 'a' }),
      'a key with a NUL': JSON.stringify({ key: 'a\u0000b', value: 'a' }),
      'a key with a newline': JSON.stringify({ key: 'a\nb', value: 'a' }),
      'a key with DEL': JSON.stringify({ key: 'a\u007fb', value: 'a' }),
      'a key with a lone surrogate': '{"key":"a\\ud800","value":"a"}',
      'the key "."': '{"key":".","value":"a"}',
      'the key ".."': '{"key":"..","value":"a"}',
      'a value with a NUL': '{"key":"existing","value":"a\\u0000b"}',
      'a value with a lone surrogate': '{"key":"existing","value":"\\udfff"}',
      'a __proto__ field': '{"key":"a","value":"b","__proto__":{"polluted":true}}',
      'a constructor field': '{"key":"a","value":"b","constructor":{"prototype":{}}}',
      'an unknown field': '{"key":"a","value":"b","ttl":5}',
    }),
    'a delete of a key with a lone surrogate': () => post('/delete', '{"key":"\\ud800"}'),
    'delete with an empty key': () => post('/delete', '{"key":""}'),
    'a read of a 257-character key': () => send(`/read/${'k'.repeat(257)}`),
    'a read of a key with a control character': () => send('/read/a%01b'),
  }),
  ...refused(400, 'INVALID_UTF8', {
    'invalid UTF-8': () =>
      post('/write', new Uint8Array([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
  }),
  ...refused(415, 'UNSUPPORTED_MEDIA_TYPE', {
    'text/plain': () => post('/write', '{"key":"a","value":"b"}', 'text/plain'),
    'a form body': () => post('/write', 'key=a&value=b', 'application/x-www-form-urlencoded'),
    multipart: () => post('/write', '--x--', 'multipart/form-data; boundary=x'),
    'a space before the content type parameters': () =>
      post('/write', '{"key":"a","value":"b"}', 'application/json ; charset=utf-8'),
    'a content type with an empty parameter': () =>
      post('/write', '{"key":"a","value":"b"}', 'application/json;'),
    'no content type': () => send('/write', { method: 'POST', body: '{"key":"a","value":"b"}' }),
    'delete as text/plain': () => post('/delete', '{"key":"existing"}', 'text/plain'),
  }),
  ...refused(413, 'PAYLOAD_TOO_LARGE', {
    'a value of 1 MiB + 1 byte': () =>
      post('/write', JSON.stringify({ key: 'big', value: 'x'.repeat(MiB + 1) })),
    'a body far over the limit': () =>
      post('/write', JSON.stringify({ key: 'big', value: 'x'.repeat(3 * MiB) })),
    'a streamed body over the limit with no Content-Length': () =>
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
  }),
  ...refused(400, 'BAD_REQUEST', {
    'a body the client cuts off midway': () =>
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
  }),
  ...refused(404, 'NOT_FOUND', {
    'an unknown route': () => send('/nope'),
    'a nested unknown route': () => send('/read/a/b'),
  }),
  ...refused(405, 'METHOD_NOT_ALLOWED', {
    'GET /write': () => send('/write'),
    'PUT /write': () => send('/write', { method: 'PUT', body: '{}' }),
    'DELETE /read/{key}': () => send('/read/existing', { method: 'DELETE' }),
    'POST /read/{key}': () => post('/read/existing', '{}'),
    'GET /clear-cache': () => send('/clear-cache'),
  }),
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
