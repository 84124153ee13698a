import type { MiddlewareHandler } from 'hono'
import { ApiError } from '../errors.js'

// Exactly what the OpenAPI route's own media-type gate accepts (parameters as `;name=value`), so
// a type this guard lets through is never refused after it by a framework error.
const JSON_TYPE = /^application\/json(;\s*[a-zA-Z0-9-]+=[^;]+)*$/i
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Reads a request body into memory, refusing it as soon as it passes `maxBytes`. */
async function readLimited(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read().catch((cause: unknown) => {
      // The client closed the connection mid-body (or the stream broke): its request, not us.
      throw new ApiError('BAD_REQUEST', 'The request body ended before it was complete', { cause })
    })
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new ApiError('PAYLOAD_TOO_LARGE', `The request body exceeds ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size)
}

/**
 * Guards JSON endpoints before any parsing: 415 unless the body is `application/json`,
 * 413 while the body streams in past `maxBytes`, 400 for invalid UTF-8 or malformed JSON.
 * The decoded text is handed to Hono's body cache, so the route validator parses it once more
 * from memory rather than from the network.
 */
export const jsonBody =
  (maxBytes: number): MiddlewareHandler =>
  async (c, next) => {
    const type = c.req.header('content-type') ?? ''
    if (!JSON_TYPE.test(type)) {
      throw new ApiError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Expected Content-Type: application/json, got ${type ? JSON.stringify(type) : 'none'}`,
      )
    }
    const declared = Number(c.req.header('content-length') ?? Number.NaN)
    if (declared > maxBytes) {
      throw new ApiError('PAYLOAD_TOO_LARGE', `The request body exceeds ${maxBytes} bytes`)
    }
    const bytes = c.req.raw.body ? await readLimited(c.req.raw.body, maxBytes) : new Uint8Array(0)
    let text: string
    try {
      text = utf8.decode(bytes)
    } catch {
      throw new ApiError('INVALID_UTF8', 'The request body is not valid UTF-8')
    }
    try {
      JSON.parse(text)
    } catch (error) {
      throw new ApiError('INVALID_JSON', `Malformed JSON: ${(error as Error).message}`)
    }
    // Hono caches body reads as promises (its type says otherwise); the validator reuses this one.
    ;(c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text)
    await next()
  }
