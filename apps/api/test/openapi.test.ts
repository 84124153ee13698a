import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Servers, startReplica, startServers, type TestReplica } from './harness.js'

let servers: Servers
let api: TestReplica

beforeAll(async () => {
  servers = await startServers()
  api = await startReplica(servers)
})
afterAll(async () => {
  await api?.close()
  await servers?.stop()
})

/** Every `pattern` in a JSON document, with where it is. */
function patterns(node: unknown, path = '$'): [string, string][] {
  if (node === null || typeof node !== 'object') return []
  return Object.entries(node).flatMap(([name, child]) =>
    name === 'pattern' && typeof child === 'string'
      ? [[`${path}.pattern`, child] as [string, string]]
      : patterns(child, `${path}.${name}`),
  )
}

type Spec = {
  components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> }
}

/** The `pattern` of a property of a component schema. */
const patternOf = (
  spec: { components: { schemas: Record<string, unknown> } },
  schema: string,
  field: string,
) =>
  (spec.components.schemas[schema] as { properties: Record<string, { pattern?: string }> })
    .properties[field]?.pattern

describe('/openapi.json', () => {
  it('publishes key patterns that accept exactly the keys the API accepts', async () => {
    const spec = (await (await api.request('/openapi.json')).json()) as Spec
    const found = patterns(spec).filter(([where]) => !where.includes('.value.'))
    expect(found.length).toBeGreaterThan(0)
    for (const [where, source] of found) {
      // JSON Schema patterns are ECMA-262 regexes without flags.
      const pattern = new RegExp(source)
      for (const key of ['user:42', 'ключ', '🔑', 'a/b', 'with space']) {
        expect(pattern.test(key), `${where} refuses ${JSON.stringify(key)}`).toBe(true)
      }
      for (const key of ['a\u0000b', 'a\nb', 'a\u007fb', 'a\u0085b']) {
        expect(pattern.test(key), `${where} accepts ${JSON.stringify(key)}`).toBe(false)
      }
    }
  })

  it('states that values cannot hold NUL', async () => {
    const spec = (await (await api.request('/openapi.json')).json()) as Spec
    const pattern = new RegExp(patternOf(spec, 'WriteRequest', 'value') ?? '')
    expect(pattern.test('any text, even\nnewlines')).toBe(true)
    expect(pattern.test('a\u0000b')).toBe(false)
  })

  it('documents 504 OUTCOME_UNKNOWN on writes and deletes, and expected_version with its 409', async () => {
    const spec = (await (await api.request('/openapi.json')).json()) as Spec & {
      paths: Record<string, { post?: { responses: Record<string, unknown> } }>
    }
    const write = Object.keys(spec.paths['/write']?.post?.responses ?? {})
    const remove = Object.keys(spec.paths['/delete']?.post?.responses ?? {})
    expect(write).toEqual(expect.arrayContaining(['200', '409', '503', '504']))
    expect(remove).toEqual(expect.arrayContaining(['200', '503', '504']))
    expect(spec.components.schemas.WriteRequest?.properties.expected_version).toMatchObject({
      type: 'integer',
      minimum: 0,
    })
  })

  it('states that the keys "." and ".." are refused', async () => {
    const spec = (await (await api.request('/openapi.json')).json()) as Spec
    expect(spec.components.schemas.WriteRequest?.properties.key?.not).toEqual({ enum: ['.', '..'] })
  })
})
