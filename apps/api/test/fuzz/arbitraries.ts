import fc from 'fast-check'

// Hostile inputs for the HTTP API, built from fragments that have broken HTTP services before:
// encodings, separators, control characters, surrogates, lengths at and past every limit.

/** The value limit the fuzzed replicas run with: small, so inputs cross it cheaply. */
export const FUZZ_MAX_VALUE_BYTES = 1024
/** The body limit that follows from it (value limit + 64 KiB of JSON envelope). */
export const FUZZ_MAX_BODY_BYTES = FUZZ_MAX_VALUE_BYTES + 64 * 1024

/** A handful of keys that requests keep hitting, so writes, reads and deletes meet each other. */
export const POOL_KEYS = ['user:1', 'user:2', 'ключ', '🔑', 'a/b', 'with space', '%41', '__proto__']

/**
 * Random strings up to `maxLength`, both as whole characters and as raw code units (which can
 * split a surrogate pair), or one of the hand-picked `hostile` strings.
 */
const randomOrHostile = (maxLength: number, ...hostile: string[]) =>
  fc.oneof(
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.constantFrom(...hostile),
  )

const keyFragment = randomOrHostile(
  6,
  // separators and path tricks
  '/',
  '..',
  '.',
  '../',
  '\\',
  '?',
  '#',
  '&',
  ';',
  '%',
  '%2F',
  '%2f',
  '%00',
  '%0A',
  '%zz',
  '%E0%A4%A',
  '%ED%A0%80',
  '%C0%AF',
  '%252F',
  '+',
  ' ',
  // control characters, C0 and C1, and Unicode line separators
  '\u0000',
  '\t',
  '\n',
  '\r',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u2028',
  '\u200b',
  '\ufeff',
  '\uffff',
  // lone and swapped surrogates
  '\ud800',
  '\udfff',
  '\udc00\ud800',
  '😀',
  'é',
  'e\u0301',
  // names that look like Redis keys or object internals
  'strata:m:generation',
  'strata:k:',
  'strata:bus',
  '*',
  '[a-z]',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
)

/** Keys of every shape: valid, invalid, borderline, and the shared pool. */
export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...POOL_KEYS), weight: 3 },
  {
    arbitrary: fc.array(keyFragment, { minLength: 1, maxLength: 6 }).map((p) => p.join('')),
    weight: 6,
  },
  {
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      'k'.repeat(256),
      'k'.repeat(257),
      'é'.repeat(256),
      '😀'.repeat(256), // 256 code points, 512 UTF-16 code units
      '😀'.repeat(257),
      `${'k'.repeat(255)}\ud800`,
      'k'.repeat(10_000),
    ),
    weight: 1,
  },
)

/** String values: empty, unicode, NUL, lone surrogates, and sizes around the value limit. */
export const valueArb: fc.Arbitrary<string> = randomOrHostile(
  20,
  '',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\r\n',
  '{"nested":"json"}',
  'x'.repeat(FUZZ_MAX_VALUE_BYTES),
  'x'.repeat(FUZZ_MAX_VALUE_BYTES + 1),
  'é'.repeat(FUZZ_MAX_VALUE_BYTES / 2), // exactly the limit in UTF-8
  `${'é'.repeat(FUZZ_MAX_VALUE_BYTES / 2 - 1)}€`, // one byte over
)

/** Anything JSON can carry, for fields of the wrong type. */
const wrongType = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, [], {}, ['a'], { key: 'k' }),
  fc.jsonValue({ maxDepth: 3 }),
)

const field = (name: string, arb: fc.Arbitrary<string>) =>
  fc.oneof(
    { arbitrary: arb.map((v) => `${JSON.stringify(name)}:${JSON.stringify(v)}`), weight: 6 },
    { arbitrary: wrongType.map((v) => `${JSON.stringify(name)}:${JSON.stringify(v)}`), weight: 1 },
  )

/** Extra members: unknown fields, prototype names, and duplicates of the real ones. */
const extraField = fc.oneof(
  fc.constantFrom(
    '"__proto__":{"polluted":true}',
    '"constructor":{"prototype":{"polluted":true}}',
    '"prototype":1',
    '"ttl":5',
    '"version":99',
    // The optional compare-and-set field: valid (0: the key must never have been written) and not.
    '"expected_version":0',
    '"expected_version":-1',
    '"expected_version":1.5',
    '"expected_version":"1"',
    '"key":"dup"',
    '"value":"dup"',
    '"":""',
  ),
  fc
    .tuple(fc.string({ maxLength: 8 }), wrongType)
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`),
)

/** A JSON object text for /write or /delete: mostly well-formed, sometimes subtly not. */
export const objectBodyArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.option(field('key', keyArb), { freq: 8 }),
    fc.option(field('value', valueArb), { freq: 4 }),
    fc.array(extraField, { maxLength: 2 }),
    fc.boolean(),
  )
  .chain(([key, value, extras, shuffle]) => {
    const members = [key, value, ...extras].filter((m): m is string => m !== null)
    const ordered = shuffle
      ? fc.shuffledSubarray(members, { minLength: members.length })
      : fc.constant(members)
    return ordered.map((m) => `{${m.join(',')}}`)
  })

const encoder = new TextEncoder()

/** Request bodies as bytes: objects, any JSON, truncated JSON, invalid UTF-8, noise, and big ones. */
export const bodyArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: objectBodyArb.map((t) => encoder.encode(t)), weight: 10 },
  { arbitrary: fc.json({ maxDepth: 3 }).map((t) => encoder.encode(t)), weight: 2 },
  {
    arbitrary: fc
      .tuple(objectBodyArb, fc.nat())
      .map(([t, cut]) => encoder.encode(t.slice(0, cut % Math.max(t.length, 1)))),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          [0xff],
          [0xc0, 0xaf],
          [0xed, 0xa0, 0x80],
          [0xe2, 0x82],
          [0xf8, 0x88, 0x80, 0x80, 0x80],
        ),
        keyArb,
      )
      .map(([bad, key]) => {
        const head = encoder.encode(`{"key":${JSON.stringify(key)},"value":"`)
        return Buffer.concat([head, Buffer.from(bad), encoder.encode('"}')])
      }),
    weight: 2,
  },
  { arbitrary: fc.uint8Array({ maxLength: 48 }), weight: 1 },
  {
    arbitrary: fc
      .constantFrom(
        '',
        ' ',
        '\ufeff{"key":"bom","value":"x"}',
        '{"key":"k","value":"v"} trailing',
        '{"key":"k","value":"v"}{"key":"k2","value":"v"}',
        '{"key":"k" "value":"v"}',
        "{'key':'k','value':'v'}",
        '{"key":"k","value":"v",}',
        '{"key":"k","value":"\\ud800"}',
        '{"key":"k","value":"\\u0000"}',
        '{"key":"\\u0000","value":"v"}',
        '[{"key":"k","value":"v"}]',
        '{"key":{"toString":"x"},"value":"v"}',
        'null',
        '1e999',
        '"just a string"',
        `${'['.repeat(5000)}${']'.repeat(5000)}`,
      )
      .map((t) => encoder.encode(t)),
    weight: 2,
  },
  {
    // Around the limits: the value limit, and the whole-body limit.
    arbitrary: fc
      .constantFrom(
        FUZZ_MAX_VALUE_BYTES,
        FUZZ_MAX_VALUE_BYTES + 1,
        FUZZ_MAX_BODY_BYTES - 30,
        FUZZ_MAX_BODY_BYTES + 1,
        3 * FUZZ_MAX_BODY_BYTES,
      )
      .map((n) => encoder.encode(`{"key":"big","value":"${'x'.repeat(n)}"}`)),
    weight: 1,
  },
)

/** Content types: exact, with parameters, odd casing and spacing, near misses, none. */
export const contentTypeArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      undefined,
      '',
      'APPLICATION/JSON',
      'Application/Json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/json ; charset=utf-16',
      'application/json;',
      'application/json\t',
      'application/json, text/plain',
      'application/jsonx',
      'application/json-patch+json',
      'application/problem+json',
      'application/vnd.api+json',
      'text/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      '*/*',
      'json',
      'application/',
    ),
    weight: 4,
  },
)

/** Things people put in Authorization headers. */
export const authorizationArb = (token: string): fc.Arbitrary<string | undefined> =>
  fc.constantFrom(
    undefined,
    '',
    'Bearer',
    'Bearer ',
    `Bearer ${token}`,
    `bearer ${token}`,
    `Bearer  ${token}  `,
    `Bearer ${token}x`,
    `Bearer ${token.slice(0, -1)}`,
    `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`,
    `Token ${token}`,
    `Bearer ${'A'.repeat(8192)}`,
    'Bearer \u00e9\u00e9',
    `${token}`,
  )

/** Characters allowed in a header value by `Headers` (a ByteString without NUL, CR, LF). */
const headerChar = fc
  .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0x09, 0x7f, 0x80, 0xa0, 0xe9, 0xff))
  .map((c) => String.fromCharCode(c))

/** A header value a `Request` accepts, of any length up to ~16 KiB. */
export const headerValueArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: headerChar, maxLength: 40 }),
  fc.nat({ max: 16_000 }).map((n) => 'v'.repeat(n)),
)

/** X-Request-Id values: well-formed, too long, and full of characters that must not be echoed. */
export const requestIdArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.stringMatching(/^[\w.:-]{1,128}$/),
  fc.constantFrom(
    '',
    ' ',
    'a'.repeat(128),
    'a'.repeat(129),
    '<script>',
    'id with space',
    'ä',
    'a,b',
    '$' + '{jndi:x}',
  ),
  headerValueArb,
)

/** Methods a `Request` can carry, standard and not, in any case. */
export const methodArb: fc.Arbitrary<string> = fc.constantFrom(
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'PROPFIND',
  'FOO',
  'post',
  'Get',
  'pOsT',
)

/** Methods that may carry a body in a `Request`. */
export const bodyAllowed = (method: string) => !['GET', 'HEAD'].includes(method.toUpperCase())

/** A key as a client puts it in a path: percent-encoded, or raw when it cannot be (lone surrogates). */
export function pathSegment(key: string): string {
  try {
    return encodeURIComponent(key)
  } catch {
    return key
  }
}

/** A path segment for a key: percent-encoded properly, raw, or hand-made encodings. */
export const keyInPathArb: fc.Arbitrary<string> = fc.oneof(
  keyArb.map(pathSegment),
  keyArb,
  fc.constantFrom(
    '%',
    '%zz',
    '%ED%A0%80',
    '%C0%AF',
    '%2e%2e',
    '%2F',
    'a%2Fb',
    '%00',
    '%0d%0a',
    '%F0%9F%94%91',
  ),
)

/** Paths: every route, variants of them (case, slashes, queries, encodings), and nonsense. */
export const pathArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: keyInPathArb.map((k) => `/read/${k}`), weight: 4 },
  {
    arbitrary: fc.constantFrom(
      '/write',
      '/delete',
      '/clear-cache',
      '/cache-stats',
      '/health',
      '/health/live',
      '/health/ready',
      '/openapi.json',
      '/write/',
      '/write?x=1',
      '/write?',
      '/WRITE',
      '//write',
      '/write/../write',
      '/%77rite',
      '/read',
      '/read/',
      '/read//',
      '/read/a/b',
      '/read/k?x=%zz&y',
      '/read/k#frag',
      '/read/k/',
      '/read/%2e',
      '/docs/nope',
      '/docs/..%2fpackage.json',
      '/metrics/',
      '/',
      '/nope',
      '/%',
      '/.env',
      '/health/../write',
    ),
    weight: 3,
  },
  { arbitrary: fc.nat({ max: 12_000 }).map((n) => `/${'a'.repeat(n)}`), weight: 1 },
  { arbitrary: fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)), weight: 1 },
)

/** One request, before it becomes a `Request`. */
export interface FuzzRequest {
  method: string
  path: string
  headers: [string, string][]
  body: Uint8Array | undefined
}

const optionalHeader = (name: string, arb: fc.Arbitrary<string | undefined>) =>
  arb.map((value): [string, string][] => (value === undefined ? [] : [[name, value]]))

/** Headers: content type, auth, request id, content-length junk, duplicates and big ones. */
export const headersArb = (token: string): fc.Arbitrary<[string, string][]> =>
  fc
    .tuple(
      optionalHeader('Content-Type', contentTypeArb),
      optionalHeader('Authorization', fc.oneof(fc.constant(undefined), authorizationArb(token))),
      optionalHeader('X-Request-Id', requestIdArb),
      optionalHeader(
        'Content-Length',
        fc.constantFrom(undefined, '0', '-1', 'abc', '1e3', '99999999999999999999', '5'),
      ),
      fc.array(
        fc.tuple(
          fc.constantFrom(
            'Content-Type',
            'X-Request-Id',
            'Accept',
            'X-Forwarded-For',
            'Cookie',
            'X-Junk',
          ),
          headerValueArb,
        ),
        { maxLength: 2 },
      ),
    )
    .map((parts) => parts.flat())

/** A request aimed at the write path: mostly well-formed enough to reach validation. */
const writeRequestArb = (token: string): fc.Arbitrary<FuzzRequest> =>
  fc.record({
    method: fc.constantFrom('POST', 'POST', 'POST', 'post', 'PUT'),
    path: fc.constantFrom('/write', '/write', '/delete', '/write?x=1', '/write/'),
    headers: fc.oneof(
      {
        arbitrary: fc.constant<[string, string][]>([['Content-Type', 'application/json']]),
        weight: 3,
      },
      { arbitrary: headersArb(token), weight: 2 },
    ),
    body: bodyArb.map((b): Uint8Array | undefined => b),
  })

/** A well-formed write or delete of a pool key: what makes the other requests meet real data. */
const poolRequestArb: fc.Arbitrary<FuzzRequest> = fc
  .tuple(fc.constantFrom(...POOL_KEYS), fc.string({ maxLength: 12 }), fc.boolean())
  .map(([key, value, remove]) => ({
    method: 'POST',
    path: remove ? '/delete' : '/write',
    headers: [['Content-Type', 'application/json']],
    body: encoder.encode(JSON.stringify(remove ? { key } : { key, value })),
  }))

/** A request aimed at reads. */
const readRequestArb = (token: string): fc.Arbitrary<FuzzRequest> =>
  fc.record({
    method: fc.constantFrom('GET', 'GET', 'HEAD'),
    path: fc.oneof(
      fc.constantFrom(...POOL_KEYS).map((k) => `/read/${encodeURIComponent(k)}`),
      keyInPathArb.map((k) => `/read/${k}`),
    ),
    headers: fc.oneof(fc.constant<[string, string][]>([]), headersArb(token)),
    body: fc.constant(undefined),
  })

/** A request aimed at the admin route. */
const adminRequestArb = (token: string): fc.Arbitrary<FuzzRequest> =>
  fc.record({
    method: fc.constantFrom('POST', 'POST', 'POST', 'GET'),
    path: fc.constant('/clear-cache'),
    // Half of them carry the real token, so accepted clears are common enough to check.
    headers: fc
      .oneof(fc.constant(`Bearer ${token}`), authorizationArb(token))
      .map((a): [string, string][] => (a === undefined ? [] : [['Authorization', a]])),
    body: fc.constant(undefined),
  })

/** Anything at all: any method, any path, any headers, any body. */
const anyRequestArb = (token: string): fc.Arbitrary<FuzzRequest> =>
  fc
    .record({ method: methodArb, path: pathArb, headers: headersArb(token), body: bodyArb })
    .map((r) => ({ ...r, body: bodyAllowed(r.method) ? r.body : undefined }))

/** The request mix the HTTP fuzz property draws from. */
export const requestArb = (token: string): fc.Arbitrary<FuzzRequest> =>
  fc.oneof(
    { arbitrary: writeRequestArb(token), weight: 5 },
    { arbitrary: poolRequestArb, weight: 2 },
    { arbitrary: readRequestArb(token), weight: 3 },
    { arbitrary: adminRequestArb(token), weight: 1 },
    { arbitrary: anyRequestArb(token), weight: 4 },
  )

/** Builds the `Request`, or undefined when WHATWG fetch itself refuses the shape. */
export function toRequest(r: FuzzRequest): Request | undefined {
  try {
    const headers = new Headers()
    for (const [name, value] of r.headers) headers.append(name, value)
    return new Request(`http://localhost${r.path}`, {
      method: r.method,
      headers,
      ...(r.body ? { body: r.body } : {}),
    })
  } catch {
    return undefined
  }
}

/** A readable description of a request, for failure messages (bodies cut to 300 characters). */
export function describeRequest(r: FuzzRequest): string {
  const body = r.body ? Buffer.from(r.body).toString('utf8') : ''
  const shown = body.length > 300 ? `${body.slice(0, 300)}… (${r.body?.byteLength} bytes)` : body
  const path = r.path.length > 300 ? `${r.path.slice(0, 300)}… (${r.path.length} chars)` : r.path
  const headers = r.headers.map(([n, v]) => `${n}: ${v.length > 100 ? `${v.slice(0, 100)}…` : v}`)
  return `${r.method} ${JSON.stringify(path)} [${headers.join(' | ')}] ${JSON.stringify(shown)}`
}
