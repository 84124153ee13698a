import fc from 'fast-check'
import { bodyArb, keyArb, keyInPathArb, POOL_KEYS, pathSegment } from './arbitraries.js'

// HTTP/1.1 requests as bytes, for the shapes a `Request` object cannot express: bad header
// bytes, conflicting framing, bare CR/LF, oversized lines, odd targets and versions.

/** A request on the wire. */
export interface RawRequest {
  bytes: Buffer
  /**
   * True when the server cannot know the request ended (framing promises more bytes, or the
   * lines do not end in CRLF): the client then half-closes, and node answers on the FIN.
   */
  incomplete: boolean
  /** A short description for failure messages. */
  label: string
}

const methodArb = fc.oneof(
  { arbitrary: fc.constantFrom('GET', 'POST'), weight: 6 },
  {
    arbitrary: fc.constantFrom(
      'PUT',
      'DELETE',
      'OPTIONS',
      'PATCH',
      'TRACE',
      'CONNECT',
      'PRI',
      'get',
      'G@T',
      'GET\u0000',
      '',
      'POST ',
      'M'.repeat(300),
      '\u00e9',
    ),
    weight: 2,
  },
)

const targetArb = fc.oneof(
  { arbitrary: fc.constantFrom('/write', '/delete', '/health/live', '/cache-stats'), weight: 4 },
  {
    arbitrary: keyArb.map((k) => `/read/${pathSegment(k)}`),
    weight: 3,
  },
  { arbitrary: keyInPathArb.map((k) => `/read/${k}`), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      '*',
      'http://evil.example/read/k',
      'http://[::1]/write',
      'https://x/health/live',
      'ftp://x/write',
      '//write',
      '/read\\k',
      '/read/k?\\x',
      '/../../etc/passwd',
      '/read/%00',
      '/read/a b',
      '/read/\u00e9',
      '/read/\u0001',
      '/read/k#frag',
      '',
      'write',
      `/${'a'.repeat(9000)}`,
      `/read/${'k'.repeat(20_000)}`,
    ),
    weight: 2,
  },
)

const versionArb = fc.oneof(
  { arbitrary: fc.constant('HTTP/1.1'), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      'HTTP/1.0',
      'HTTP/2.0',
      'HTTP/1.2',
      'HTTP/9.9',
      'http/1.1',
      'HTTPS/1.1',
      '',
      'HTTP/1.1 x',
    ),
    weight: 1,
  },
)

const hostArb = fc.oneof(
  { arbitrary: fc.constant<string | undefined>('127.0.0.1'), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      undefined,
      '',
      'a b',
      '[::1',
      'x:99999',
      'x:-1',
      'évil',
      'x/y',
      'user@x',
      'x'.repeat(300),
      '127.0.0.1, evil',
    ),
    weight: 2,
  },
)

/** Header lines that are valid, odd, or outright broken (about one in five). */
const extraHeaderArb = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      'Accept: */*',
      'X-Request-Id: abc-123',
      'X-Request-Id: <script>',
      'Authorization: Bearer junk',
      'Expect: 100-continue',
      'Upgrade: websocket',
      'Upgrade: h2c',
      'Content-Encoding: gzip',
      'X-Forwarded-For: 1.2.3.4',
      'Cookie: a=b',
      'X-Empty:',
      'X-Tab:\tvalue',
      'X-Obs: obs\u00e9text',
    ),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(
        fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/),
        fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
      )
      .map(([name, value]) => `${name}: ${value}`),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(
      'Expect: the-unexpected',
      'X-Nul: a\u0000b',
      'X-Del: a\u007fb',
      'Bad Name: x',
      ': no name',
      'NoColon',
      'X-Folded: a\r\n continued',
      `X-Huge: ${'v'.repeat(20_000)}`,
      'X-\u00e9: x',
    ),
    weight: 1,
  },
)

type Framing =
  | 'exact'
  | 'none'
  | 'chunked'
  | 'short-length'
  | 'long-length'
  | 'bad-length'
  | 'duplicate-length'
  | 'length-and-chunked'
  | 'bad-chunk'
  | 'unterminated-chunks'
  | 'odd-transfer-encoding'

const framingArb: fc.Arbitrary<Framing> = fc.oneof(
  { arbitrary: fc.constantFrom<Framing>('exact', 'chunked'), weight: 8 },
  {
    arbitrary: fc.constantFrom<Framing>(
      'none',
      'short-length',
      'long-length',
      'bad-length',
      'duplicate-length',
      'length-and-chunked',
      'bad-chunk',
      'unterminated-chunks',
      'odd-transfer-encoding',
    ),
    weight: 3,
  },
)

const lineEndArb = fc.oneof(
  { arbitrary: fc.constant('\r\n'), weight: 12 },
  { arbitrary: fc.constantFrom('\n', '\r', '\n\r'), weight: 1 },
)

/** Framing headers and the bytes after the head; `incomplete` when node must wait for more. */
function frame(
  framing: Framing,
  body: Buffer,
): { headers: string[]; payload: Buffer; incomplete: boolean } {
  const chunked = (data: Buffer) =>
    Buffer.concat([
      Buffer.from(`${data.length.toString(16)}\r\n`),
      data,
      Buffer.from('\r\n0\r\n\r\n'),
    ])
  switch (framing) {
    case 'exact':
      return { headers: [`Content-Length: ${body.length}`], payload: body, incomplete: false }
    case 'none':
      return { headers: [], payload: body, incomplete: body.length > 0 }
    case 'chunked':
      return { headers: ['Transfer-Encoding: chunked'], payload: chunked(body), incomplete: false }
    case 'short-length':
      // Declares fewer bytes than sent: the rest reads as a second, garbage request.
      return {
        headers: [`Content-Length: ${Math.floor(body.length / 2)}`],
        payload: body,
        incomplete: true,
      }
    case 'long-length':
      return { headers: [`Content-Length: ${body.length + 10}`], payload: body, incomplete: true }
    case 'bad-length':
      return { headers: ['Content-Length: -1'], payload: body, incomplete: true }
    case 'duplicate-length':
      return {
        headers: [`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`],
        payload: body,
        incomplete: true,
      }
    case 'length-and-chunked':
      return {
        headers: [`Content-Length: ${body.length}`, 'Transfer-Encoding: chunked'],
        payload: chunked(body),
        incomplete: true,
      }
    case 'bad-chunk':
      return {
        headers: ['Transfer-Encoding: chunked'],
        payload: Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')]),
        incomplete: true,
      }
    case 'unterminated-chunks':
      return {
        headers: ['Transfer-Encoding: chunked'],
        payload: Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body]),
        incomplete: true,
      }
    case 'odd-transfer-encoding':
      return {
        headers: ['Transfer-Encoding: gzip, chunked, identity'],
        payload: chunked(body),
        incomplete: true,
      }
  }
}

/** Raw requests: a request line, headers and framing, each sometimes hostile. */
const hostileRequestArb: fc.Arbitrary<RawRequest> = fc
  .record({
    method: methodArb,
    target: targetArb,
    version: versionArb,
    host: hostArb,
    contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', undefined),
    extras: fc.array(extraHeaderArb, { maxLength: 2 }),
    framing: framingArb,
    lineEnd: lineEndArb,
    body: bodyArb.filter((b) => b.byteLength <= 8192).map((b) => Buffer.from(b)),
  })
  .map((r) => {
    const framed = frame(
      r.framing,
      r.method === 'GET' && r.framing === 'none' ? Buffer.alloc(0) : r.body,
    )
    const headers = [
      ...(r.host === undefined ? [] : [`Host: ${r.host}`]),
      ...(r.contentType === undefined ? [] : [`Content-Type: ${r.contentType}`]),
      ...r.extras,
      ...framed.headers,
      // The server closes once it has answered: that is how the client knows it is done.
      'Connection: close',
    ]
    const head = [`${r.method} ${r.target} ${r.version}`, ...headers, '', ''].join(r.lineEnd)
    return {
      bytes: Buffer.concat([Buffer.from(head, 'latin1'), framed.payload]),
      incomplete: framed.incomplete || r.lineEnd !== '\r\n' || r.version !== 'HTTP/1.1',
      label: `${r.framing} framing, ${JSON.stringify(r.lineEnd)} line ends`,
    }
  })

/** Requests that must always be tried, whatever the seed draws. */
export const RAW_CASES: [label: string, request: string, incomplete: boolean][] = [
  ['a missing Host', 'GET /health/live HTTP/1.1\r\nConnection: close\r\n\r\n', false],
  ['HTTP/1.0 without Host', 'GET /health/live HTTP/1.0\r\n\r\n', false],
  [
    'a Host with a space',
    'GET /health/live HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n',
    false,
  ],
  [
    'a backslash in the path',
    'GET /read\\k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    false,
  ],
  ['the asterisk form', 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', false],
  [
    'an absolute target',
    'GET http://evil.example/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    false,
  ],
  ['CONNECT', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', false],
  [
    'an unknown Expect',
    'POST /write HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    false,
  ],
  [
    'Content-Length with Transfer-Encoding',
    'POST /write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    true,
  ],
  [
    'two different Content-Lengths',
    'POST /write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
    true,
  ],
  [
    'a body shorter than its Content-Length',
    'POST /write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"key":"short","value":"x"}',
    true,
  ],
  ['a request line of 20 KB', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, true],
  [
    'a header of 20 KB',
    `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'v'.repeat(20_000)}\r\n\r\n`,
    true,
  ],
  [
    '3,000 headers',
    `GET /health/live HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(3000)}Connection: close\r\n\r\n`,
    true,
  ],
  ['bare LF line ends', 'GET /health/live HTTP/1.1\nHost: x\n\n', true],
  ['bare CR line ends', 'GET /health/live HTTP/1.1\rHost: x\r\r', true],
  [
    'a NUL in a header value',
    'GET /health/live HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n',
    true,
  ],
  ['a TLS ClientHello', '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003', true],
  ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', true],
  ['a control character in the path', 'GET /read/a\u0001b HTTP/1.1\r\nHost: x\r\n\r\n', true],
  ['raw UTF-8 in the path', 'GET /read/\u00c3\u00a9 HTTP/1.1\r\nHost: x\r\n\r\n', true],
  ['an invalid method', 'G@T /health/live HTTP/1.1\r\nHost: x\r\n\r\n', true],
  ['an empty request', '\r\n\r\n', true],
]

/** Well-formed writes and deletes of pool keys, chunked or not: accepted, so data does change. */
const cleanWriteArb: fc.Arbitrary<RawRequest> = fc
  .record({
    key: fc.constantFrom(...POOL_KEYS),
    value: fc.string({ maxLength: 20 }),
    remove: fc.boolean(),
    framing: fc.constantFrom<Framing>('exact', 'chunked'),
  })
  .map((r) => {
    const body = Buffer.from(
      JSON.stringify(r.remove ? { key: r.key } : { key: r.key, value: r.value }),
    )
    const framed = frame(r.framing, body)
    const head = [
      `POST ${r.remove ? '/delete' : '/write'} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Content-Type: application/json',
      ...framed.headers,
      'Connection: close',
      '',
      '',
    ].join('\r\n')
    return {
      bytes: Buffer.concat([Buffer.from(head), framed.payload]),
      incomplete: false,
      label: `clean ${r.remove ? 'delete' : 'write'}, ${r.framing} framing`,
    }
  })

/** The raw request mix: mostly hostile, with enough accepted writes to meet real data. */
export const rawRequestArb: fc.Arbitrary<RawRequest> = fc.oneof(
  { arbitrary: hostileRequestArb, weight: 4 },
  { arbitrary: cleanWriteArb, weight: 1 },
)
