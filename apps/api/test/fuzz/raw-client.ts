import { connect } from 'node:net'

/** One HTTP response as it came off the wire. */
export interface RawResponse {
  status: number
  headers: Map<string, string>
  body: string
}

/** What a raw exchange produced: the responses parsed, and anything left that did not parse. */
export interface RawExchange {
  responses: RawResponse[]
  /** Bytes after the last complete response: must be empty for a well-behaved server. */
  leftover: string
  /** Set when neither an answer nor a close came within the time limit. */
  timedOut: boolean
}

/**
 * Parses consecutive HTTP/1.1 responses (Content-Length or chunked bodies; 1xx skipped).
 * Stops at the first incomplete or unparsable one and reports the rest as leftover.
 */
export function parseResponses(wire: Buffer): { responses: RawResponse[]; leftover: string } {
  const responses: RawResponse[] = []
  let at = 0
  for (;;) {
    const headEnd = wire.indexOf('\r\n\r\n', at)
    if (headEnd < 0) break
    const [statusLine = '', ...lines] = wire.toString('latin1', at, headEnd).split('\r\n')
    const match = /^HTTP\/1\.[01] (\d{3}) /.exec(`${statusLine} `)
    if (!match) break
    const headers = new Map<string, string>()
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
    }
    const status = Number(match[1])
    let bodyStart = headEnd + 4
    let body: Buffer
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const chunks: Buffer[] = []
      for (;;) {
        const sizeEnd = wire.indexOf('\r\n', bodyStart)
        if (sizeEnd < 0) return { responses, leftover: wire.toString('latin1', at) }
        const size = Number.parseInt(wire.toString('latin1', bodyStart, sizeEnd), 16)
        if (Number.isNaN(size) || wire.length < sizeEnd + 2 + size + 2) {
          return { responses, leftover: wire.toString('latin1', at) }
        }
        chunks.push(wire.subarray(sizeEnd + 2, sizeEnd + 2 + size))
        bodyStart = sizeEnd + 2 + size + 2
        if (size === 0) break
      }
      body = Buffer.concat(chunks)
    } else {
      const length = Number(headers.get('content-length') ?? 0)
      if (wire.length < bodyStart + length) break
      body = wire.subarray(bodyStart, bodyStart + length)
      bodyStart += length
    }
    at = bodyStart
    if (status >= 100 && status < 200) continue
    responses.push({ status, headers, body: body.toString('utf8') })
  }
  return { responses, leftover: wire.toString('latin1', at) }
}

/**
 * Writes raw bytes to the server and collects what comes back until the server closes the
 * connection. A complete request asks for `Connection: close` itself, so the server closes
 * once it has answered; an incomplete one (`halfClose`) is followed by a FIN, to which node
 * answers whatever it can and closes. `timeoutMs` only bounds a server that does neither.
 */
export function exchange(
  port: number,
  bytes: Uint8Array,
  options: { halfClose: boolean; timeoutMs: number },
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const received: Buffer[] = []
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      socket.destroy()
    }, options.timeoutMs)
    socket.on('data', (chunk: Buffer) => received.push(chunk))
    // A reset after the server answered and closed is not a failure: what arrived is judged.
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ ...parseResponses(Buffer.concat(received)), timedOut })
    })
    socket.write(bytes, () => {
      if (options.halfClose) socket.end()
    })
  })
}
